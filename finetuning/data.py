"""What a fine-tune learns from: the exported corrections and a sample of the original data, as the model sees them."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from explainers.corrections import Answer, answer_from_row
from explainers.corrections.imagefolder import METADATA_NAME
from explainers.errors import CorrectionError, GalleryError, ImageError
from explainers.models.images import load_image
from explainers.models.preprocess import eval_transform
from explainers.similar.labels import encode
from explainers.similar.sources import collect
from explainers.types import LoadedModel, TaskInfo

Report = Callable[[float, str], None]


@dataclass(frozen=True)
class Examples:
    """Images as the model sees them, with their targets in the model's terms.

    Attributes:
        images: normalised (N, 3, H, W) float32, through the model's own eval transform.
        targets: class indices int64 (N,), label memberships float32 (N, K), or values float32 (N, K) in user units.
        ids: one id per image (a correction's record id, or the image's path in the original data).
    """

    images: torch.Tensor
    targets: torch.Tensor
    ids: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, rows: Sequence[int] | np.ndarray) -> Examples:
        """The examples at these rows."""
        index = torch.as_tensor(np.asarray(rows, dtype=np.int64))
        return Examples(self.images[index], self.targets[index], tuple(self.ids[int(i)] for i in index))

    def split(self, fraction: float, seed: int) -> tuple[Examples, Examples]:
        """(kept, held aside): a seeded random ``fraction`` held aside (none when fraction is 0)."""
        order = np.random.default_rng(seed).permutation(len(self))
        held = round(fraction * len(self))
        return self.take(np.sort(order[held:])), self.take(np.sort(order[:held]))


@dataclass(frozen=True)
class Corrections:
    """The corrections a fine-tune can use, and those it cannot (with why)."""

    examples: Examples
    skipped: dict[str, int]
    other_weights: int


def load_corrections(model: LoadedModel, folder: str | os.PathLike[str], report: Report | None = None) -> Corrections:
    """Read an export of `finetune.py export` (images + metadata.jsonl) for this model.

    Rows whose answer this model's task cannot use (another task, a class it does not have) are skipped and counted;
    rows made with other weights are used when their answer fits, and counted.

    Raises:
        CorrectionError: no metadata.jsonl, or no row this model can learn from.
    """
    folder = Path(folder).expanduser()
    meta = folder / METADATA_NAME
    if not meta.is_file():
        raise CorrectionError(
            f"{folder} has no {METADATA_NAME}; make it with: python finetune.py export --out {folder}"
        )
    answers: list[Answer] = []
    files, ids, skipped, other = [], [], dict[str, int](), 0
    for text in meta.read_text(encoding="utf-8").splitlines():
        if not text.strip():
            continue
        try:
            row = json.loads(text)
            answer = answer_from_row(model.task, row)
            path = (folder / str(row["file_name"])).resolve()
            if not path.is_relative_to(folder.resolve()):
                raise KeyError("file_name outside the export")
        except (json.JSONDecodeError, AttributeError, TypeError, KeyError, CorrectionError) as exc:
            reason = "answer does not fit the model" if isinstance(exc, CorrectionError) else type(exc).__name__
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        other += int(row.get("weights_sha256") not in (None, model.weights_sha256))
        answers.append(answer)
        files.append(path)
        ids.append(str(row.get("id") or row["file_name"]))
    if not answers:
        raise CorrectionError(f"no correction in {meta} fits {model.model_id} ({model.task.kind}); skipped: {skipped}")
    targets = _targets(model.task, answers)
    return Corrections(Examples(_pictures(model, files, report), targets, tuple(ids)), skipped, other)


def load_original(
    model: LoadedModel, folder: str | os.PathLike[str], *, sample: int, seed: int, report: Report | None = None
) -> Examples:
    """A seeded sample of the original data: class sub-folders, or any layout with labels.* / metadata.* beside it.

    Raises:
        GalleryError: no images, or labels the model does not know (explainers.similar.collect's messages).
    """
    references = collect(model.task, folder)
    rows = np.sort(np.random.default_rng(seed).permutation(len(references))[: max(sample, 0)])
    sources: list[Any] = []
    for start in range(0, len(rows), 256):
        chunk = rows[start : start + 256]
        fetched = references.fetch(int(chunk[0]), int(chunk[-1]) + 1)
        sources += [fetched[int(i) - int(chunk[0])] for i in chunk]
    labels = references.labels[rows]
    targets = torch.as_tensor(labels if model.task.kind == "multiclass" else labels.astype(np.float32))
    return Examples(_pictures(model, sources, report), targets, tuple(references.ids[int(i)] for i in rows))


def _targets(task: TaskInfo, answers: list[Answer]) -> torch.Tensor:
    if task.kind == "multiclass":
        return torch.as_tensor(encode(task, [task.names.index(str(a.label)) for a in answers]))
    if task.kind == "multilabel":
        members = [{task.names.index(n) for n in a.labels} for a in answers]
        return torch.as_tensor(encode(task, members).astype(np.float32))
    return torch.as_tensor(encode(task, [a.values for a in answers]))


def _pictures(model: LoadedModel, sources: Sequence[Any], report: Report | None) -> torch.Tensor:
    transform = eval_transform(model)
    out = []
    for n, source in enumerate(sources, start=1):
        try:
            out.append(transform(load_image(source)))
        except ImageError as exc:
            raise GalleryError(f"{source if isinstance(source, (str, Path)) else f'image {n}'}: {exc}") from exc
        if report is not None and (n % 128 == 0 or n == len(sources)):
            report(n / len(sources), f"{n}/{len(sources)} images")
    return torch.stack(out) if out else torch.zeros(0, 3, *model.input_size)
