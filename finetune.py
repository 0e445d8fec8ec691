r"""Export visitors' corrections and fine-tune a model on them, then publish the result as a new revision.

    python finetune.py export --out corrections/                       # images + metadata.jsonl (imagefolder)
    python finetune.py train --model acme/fashion --corrections corrections/ --original train_images/ \
        --out finetuned/ --last-stage-epochs 4 --push acme/fashion --revision corrections-1
    python finetune.py status                                          # pending corrections, last fine-tune

The app's data folder (where /correct stores corrections) is XAI_DATA_DIR or --data-dir. The push token comes from
HF_TOKEN or the cached login, as for upload_model.py. The work lives in finetuning/; this file is the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from huggingface_hub.errors import HfHubHTTPError

from explainers.errors import ExplainerError
from finetuning import CorrectionStore, Plan, UploadError, console_progress, data_dir, export, train_run


def build_parser() -> argparse.ArgumentParser:
    """The command line: export, train and status."""
    parser = argparse.ArgumentParser(
        prog="finetune.py",
        description=__doc__.splitlines()[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    store_help = "the app's data folder (default: XAI_DATA_DIR, else ~/.local/share/timm-xai)"

    ex = commands.add_parser("export", help="write corrections with their images as an imagefolder data set")
    ex.add_argument("--out", type=Path, required=True, help="a missing or empty folder")
    ex.add_argument("--data-dir", type=Path, help=store_help)
    ex.add_argument("--model", help="only the corrections of this model id (as the app names it)")
    ex.add_argument("--pending", action="store_true", help="only corrections no recorded fine-tune has used")

    tr = commands.add_parser("train", help="fine-tune a model on an export, evaluate, write and optionally push it")
    tr.add_argument("--model", required=True, help="the model the corrections were made for: folder or owner/name@rev")
    tr.add_argument("--corrections", type=Path, required=True, help="a folder written by `finetune.py export`")
    tr.add_argument(
        "--original",
        type=Path,
        help="the original training data (class sub-folders, or images + labels.csv / metadata.jsonl); a sample is "
        "mixed in against forgetting and part of it held aside to measure it",
    )
    tr.add_argument("--out", type=Path, required=True, help="a missing or empty folder: model/ and report.json")
    tr.add_argument("--sample", type=int, default=1000, help="images drawn from --original (default 1000)")
    tr.add_argument("--holdout", type=float, default=0.2, help="share of the sample held aside (default 0.2)")
    defaults = Plan()
    tr.add_argument("--head-epochs", type=int, default=defaults.head_epochs, help="epochs training the head alone")
    tr.add_argument(
        "--last-stage-epochs",
        dest="stage_epochs",
        type=int,
        default=defaults.stage_epochs,
        help="epochs training the last stage with the head afterwards (default 0: the head only)",
    )
    tr.add_argument("--head-lr", type=float, default=defaults.head_lr)
    tr.add_argument("--stage-lr", type=float, default=defaults.stage_lr)
    tr.add_argument(
        "--correction-weight",
        type=float,
        default=defaults.correction_weight,
        help=f"how many original images one correction counts for (default {defaults.correction_weight:g})",
    )
    tr.add_argument("--batch", type=int, default=defaults.batch)
    tr.add_argument("--seed", type=int, default=defaults.seed)
    tr.add_argument("--license", help="the weights' licence when the source's config.json names none")
    tr.add_argument("--push", metavar="REPO", help="commit the result to this owner/name ...")
    tr.add_argument("--revision", help="... on this branch (created if missing; default main)")
    tr.add_argument("--endpoint", help="Hub URL (default: HF_ENDPOINT or https://huggingface.co)")
    tr.add_argument("--data-dir", type=Path, help=f"{store_help}: the fine-tune is recorded in its store")

    st = commands.add_parser("status", help="pending corrections and the last recorded fine-tune")
    st.add_argument("--data-dir", type=Path, help=store_help)
    return parser


def _export(args: argparse.Namespace) -> int:
    store = CorrectionStore(args.data_dir or data_dir())
    with console_progress("export") as progress:
        summary = export(store, args.out, model_id=args.model, pending_only=args.pending, progress=progress)
    models = ", ".join(f"{m}: {n}" for m, n in summary.models.items())
    print(f"exported {len(summary.ids)} corrections ({models}) to {summary.folder}")
    if summary.without_image:
        print(f"left out {summary.without_image} without an image (no consent to keep it)")
    print(f'read it with: datasets.load_dataset("imagefolder", data_dir="{summary.folder}")')
    return 0


def _train(args: argparse.Namespace) -> int:
    if args.revision and not args.push:
        raise SystemExit("finetune.py train: --revision needs --push REPO")
    plan = Plan(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Plan)})
    with console_progress("fine-tune") as progress:
        result = train_run(
            args.model,
            args.corrections,
            args.out,
            original=args.original,
            sample=args.sample,
            holdout=args.holdout,
            plan=plan,
            license=args.license,
            push_to=args.push,
            revision=args.revision,
            endpoint=args.endpoint,
            data_dir=args.data_dir or data_dir(),
            report=progress,
        )
    figures = result.figures
    print(f"fine-tuned on {figures['corrections']} corrections in {figures['seconds']:.0f} s")
    for name, row in figures["evaluation"].items():
        print(f"  {name} ({row['n']} images): {row['metric']} {_fmt(row['before'])} -> {_fmt(row['after'])}")
    print(f"wrote {result.folder} (config.json, model.safetensors, README.md with these figures) and report.json")
    if result.uploaded is not None:
        up = result.uploaded
        print(f"pushed: {up.repo_id} branch {up.revision}, commit {up.commit_sha}")
        print(f"load it in the Space as {up.repo_id}@{up.revision} (or @{up.commit_sha} to pin it)")
    if result.finetune_id:
        print(f"recorded as fine-tune {result.finetune_id[:8]} in the app's store")
    return 0


def _status(args: argparse.Namespace) -> int:
    store = CorrectionStore(args.data_dir or data_dir())
    print(f"{store.count(pending_only=True)} corrections pending, {store.count()} stored in {store.path}")
    last = store.last_finetune()
    print("no fine-tune recorded" if last is None else json.dumps(last, indent=2))
    return 0


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 done, 1 refused or failed, 2 usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return {"export": _export, "train": _train, "status": _status}[args.command](args)
    except SystemExit as exc:  # --help and usage errors
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 2
        return int(exc.code or 0)
    except (ExplainerError, UploadError, HfHubHTTPError) as exc:
        hub = "the Hub refused the upload: " if isinstance(exc, HfHubHTTPError) else ""
        print(f"error: {hub}{exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
