"""upload_model.py's task and card flags, parsed into a ModelDescription: names, per-output lists, card fields."""

from __future__ import annotations

import argparse
from pathlib import Path

from explainers.models.imagenet import imagenet_names
from explainers.types import TaskInfo

from .description import ModelDescription
from .errors import UploadError


def description_from_args(args: argparse.Namespace) -> ModelDescription:
    """The ModelDescription a parsed command line asks for.

    Raises:
        UploadError: names are missing, belong to the other task, or a list is malformed.
    """
    if args.task == "regression":
        if args.labels:
            raise UploadError("--labels does not apply to --task regression; name the outputs with --targets")
        if not args.targets:
            raise UploadError("--task regression needs --targets: one name per output (file or comma list)")
        names = read_names(args.targets, "--targets")
    else:
        if args.targets:
            raise UploadError(f"--targets does not apply to --task {args.task}; name the outputs with --labels")
        if not args.labels:
            raise UploadError(
                f"--task {args.task} needs --labels: one name per output (file, comma list or 'imagenet')"
            )
        names = read_names(args.labels, "--labels")
    n = len(names)
    description = ModelDescription(
        task=TaskInfo(
            args.task,
            names,
            thresholds=_floats(args.thresholds, "--thresholds", n),
            abstain=args.abstain_threshold,
            units=_strings(args.units, n),
            target_mean=_floats(args.target_mean, "--target-mean", n),
            target_std=_floats(args.target_std, "--target-std", n),
        ),
        license=args.license.strip().lower(),
        base_model=args.base_model,
        datasets=tuple(args.dataset),
        intended_use=args.intended_use,
        title=args.title,
    )
    description.validate()
    return description


def read_names(value: str, flag: str) -> tuple[str, ...]:
    """Names from a file (one per line), 'imagenet', or a comma list.

    Raises:
        UploadError: the file is missing or has blank lines, or a comma list has empty entries.
    """
    if value.strip().lower() in ("imagenet", "imagenet-1k"):
        return tuple(imagenet_names())
    path = Path(value).expanduser()
    if path.is_file():
        lines = path.read_text(encoding="utf-8").strip("\n").splitlines()
        blank = [i + 1 for i, line in enumerate(lines) if not line.strip()]
        if blank:
            raise UploadError(f"{flag} file {path} has blank lines ({blank[:5]}); expected one name per line")
        return tuple(line.strip() for line in lines)
    if "," not in value and (path.suffix in (".txt", ".csv", ".names") or "/" in value):
        raise UploadError(f"{flag} file {path} does not exist")
    names = tuple(v.strip() for v in value.split(","))
    if not all(names):
        raise UploadError(f"{flag} {value!r} has an empty name; expected a comma list like cat,dog,bird")
    return names


def _floats(value: str | None, flag: str, n: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        values = tuple(float(v) for v in value.split(","))
    except ValueError as exc:
        raise UploadError(f"{flag} {value!r}: expected numbers separated by commas") from exc
    return values * n if len(values) == 1 else values


def _strings(value: str | None, n: int) -> tuple[str, ...] | None:
    if value is None:
        return None
    values = tuple(v.strip() for v in value.split(","))
    return values * n if len(values) == 1 else values
