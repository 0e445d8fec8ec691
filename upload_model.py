r"""Publish a timm checkpoint as a Hub repo this Space loads by id: config.json, model.safetensors and README.md.

    python upload_model.py --arch resnet50.a1_in1k --weights best.pth --labels labels.txt --license mit \
        --repo-id acme/resnet50-birds

The folder is proved before anything is uploaded: the Space's own loader rebuilds the model from the folder alone and
its outputs on a fixed synthetic image must equal those of the raw checkpoint within 1e-5. Run with --dry-run OUT_DIR
to build and check the folder without uploading. The token comes from HF_TOKEN or the cached login (`hf auth login`);
there is deliberately no --token flag, since command lines end up in shell history and process lists. The work itself
lives in publishing/; this file is the command line only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from huggingface_hub.errors import HfHubHTTPError

from explainers.errors import ExplainerError
from publishing import (
    DATA_CONFIG_KEYS,
    DEFAULT_ABSTAIN,
    FOLDER_FILES,
    GALLERY_DIR,
    WRAPPER_KEYS,
    UploadError,
    add_gallery,
    build_folder,
    check_branch,
    check_repo_id,
    description_from_args,
    gallery_files,
    read_checkpoint,
    require_token,
    upload,
    verify_folder,
)


def build_parser() -> argparse.ArgumentParser:
    """The command line: model, task, model card and hub options, with examples in --help."""
    parser = argparse.ArgumentParser(
        prog="upload_model.py",
        description="Publish a timm checkpoint as a Hub repo the timm explainer Space loads by id: config.json "
        "(timm's keys + task metadata), model.safetensors and README.md (rendered from model_card.md). The folder "
        "is rebuilt through the Space's own loader and must reproduce the checkpoint's outputs within 1e-5 before "
        "anything is uploaded.",
        epilog="Token: HF_TOKEN in the environment or the cached login (`hf auth login`). There is no --token flag: "
        "command lines end up in shell history and process lists.\n\nExamples:\n"
        "  upload_model.py --arch resnet50.a1_in1k --weights best.pth --labels labels.txt --license mit "
        "--repo-id acme/birds\n"
        "  upload_model.py --arch convnext_tiny --weights ema.safetensors --task multilabel --labels cat,dog,car "
        "--thresholds 0.4,0.5,0.6 --license apache-2.0 --repo-id acme/tags --revision v2\n"
        "  upload_model.py --arch vit_small_patch16_224 --weights ckpt.pt --task regression --targets calories,"
        "protein --units kcal,g --target-mean 350,12 --target-std 120,6 --license other --dry-run out/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--arch",
        required=True,
        help="timm architecture, optionally with the pretrained tag whose "
        "preprocessing the checkpoint was trained with (resnet50.a1_in1k)",
    )
    model.add_argument(
        "--weights",
        required=True,
        type=Path,
        help=".safetensors, or a PyTorch checkpoint "
        "(.pt/.pth/.bin/.ckpt) read with torch.load(weights_only=True) only; checkpoints that need "
        "full unpickling are refused",
    )
    model.add_argument(
        "--weights-key",
        help="the checkpoint entry holding the weights (default: found among "
        f"{', '.join(WRAPPER_KEYS)}); e.g. state_dict_ema",
    )
    model.add_argument(
        "--model-args",
        default="{}",
        metavar="JSON",
        help="extra timm.create_model arguments the "
        "checkpoint was built with, e.g. '{\"img_size\": 384}'; num_classes comes from the names",
    )
    model.add_argument(
        "--data-config",
        metavar="JSON",
        help="preprocessing to record instead of the "
        "architecture's: input_size, mean, std, interpolation, crop_pct, crop_mode",
    )
    task = parser.add_argument_group("task")
    task.add_argument("--task", choices=("multiclass", "multilabel", "regression"), default="multiclass")
    task.add_argument(
        "--labels",
        help="class/label names in output order: a file with one per line, a comma list, "
        "or 'imagenet' for timm's ImageNet-1k names",
    )
    task.add_argument(
        "--thresholds", help="multilabel: a threshold per label (comma list) or one for all (default 0.5)"
    )
    task.add_argument(
        "--abstain-threshold",
        type=float,
        help=f"multilabel: answer 'none' below this best probability (default {DEFAULT_ABSTAIN})",
    )
    task.add_argument("--targets", help="regression: target names in output order (file or comma list)")
    task.add_argument("--units", help="regression: a unit per target (comma list) or one for all")
    task.add_argument("--target-mean", help="regression: z-score means per target (comma list)")
    task.add_argument("--target-std", help="regression: z-score stds per target (comma list)")
    card = parser.add_argument_group("model card")
    card.add_argument(
        "--license", required=True, help="Hub license id of the weights: apache-2.0, mit, cc-by-nc-4.0, other, ..."
    )
    card.add_argument("--base-model", help="Hub id it was fine-tuned from, e.g. timm/resnet50.a1_in1k")
    card.add_argument(
        "--dataset", action="append", default=[], help="training dataset (Hub id or name); repeat for several"
    )
    card.add_argument("--intended-use", help="what the model is for and not for, in a sentence or two")
    card.add_argument("--title", help="the card's heading")
    hub = parser.add_argument_group("hub")
    hub.add_argument("--repo-id", help="owner/name of the model repo (required unless --dry-run)")
    hub.add_argument("--revision", help="branch to commit to (default main; created if missing)")
    hub.add_argument(
        "--private", action="store_true", help="create the repo private (an existing repo keeps its visibility)"
    )
    hub.add_argument(
        "--gallery",
        metavar="SRC",
        type=Path,
        help="publish a reference gallery for similar cases in gallery/: labelled images to build it from (class "
        "sub-folders, a folder with a labels CSV/JSONL, or a .parquet file), or a gallery built for these weights",
    )
    hub.add_argument("--commit-message", help="summary of the upload commit")
    hub.add_argument("--endpoint", help="Hub URL (default: HF_ENDPOINT or https://huggingface.co)")
    hub.add_argument(
        "--dry-run", metavar="OUT_DIR", type=Path, help="build and verify the folder into OUT_DIR and upload nothing"
    )
    return parser


def _json_object(value: str | None, flag: str) -> dict[str, Any]:
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise UploadError(f"{flag} is not valid JSON ({exc}); expected an object like '{{\"img_size\": 384}}'") from exc
    if not isinstance(parsed, dict):
        raise UploadError(f"{flag} must be a JSON object, got {type(parsed).__name__}")
    return parsed


def _check_out_dir(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(p.name not in (*FOLDER_FILES, GALLERY_DIR) for p in out.iterdir())):
        raise UploadError(
            f"--dry-run {out} holds other files; expected an empty or missing folder (or one from an earlier dry run)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 done, 1 refused or failed, 2 usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help and usage errors
        return int(exc.code or 0)
    try:
        description = description_from_args(args)
        model_args = _json_object(args.model_args, "--model-args")
        data_config = _json_object(args.data_config, "--data-config") or None
        unknown = sorted(set(data_config or {}) - DATA_CONFIG_KEYS)
        if unknown:
            raise UploadError(
                f"--data-config keys {unknown} are not preprocessing settings timm records; expected "
                f"some of {sorted(DATA_CONFIG_KEYS)}"
            )
        repo_id = check_repo_id(args.repo_id) if args.repo_id else None
        if args.revision:
            check_branch(args.revision)
        if args.dry_run is not None:
            _check_out_dir(args.dry_run)
        elif repo_id is None:
            raise UploadError("--repo-id owner/name is required to upload (or pass --dry-run OUT_DIR)")
        else:
            require_token()
        checkpoint = read_checkpoint(args.weights, key=args.weights_key)
        print(f"weights: {checkpoint.describe()}")
        with tempfile.TemporaryDirectory(prefix="upload-model-") as tmp:
            folder = build_folder(
                Path(tmp) / "repo",
                arch=args.arch,
                weights=checkpoint,
                description=description,
                model_args=model_args,
                data_config=data_config,
                repo_id=repo_id,
            )
            del checkpoint  # verify_folder re-reads the file on its own
            result = verify_folder(
                folder, arch=args.arch, weights=args.weights, model_args=model_args, weights_key=args.weights_key
            )
            print(
                f"verified: the Space's loader rebuilt {result.architecture} ({result.task}, {result.num_outputs} "
                f"outputs) from the folder alone; max |difference| from the checkpoint on a "
                f"{result.input_size[0]}×{result.input_size[1]} sample image: {result.max_abs_diff:.3g}"
            )
            if args.gallery is not None:
                gallery = add_gallery(folder, args.gallery)
                print(f"gallery: {len(gallery_files(folder))} files in {GALLERY_DIR}/, verified for these weights")
            if args.dry_run is not None:
                args.dry_run.mkdir(parents=True, exist_ok=True)
                for name in FOLDER_FILES:
                    shutil.copyfile(folder / name, args.dry_run / name)
                if args.gallery is not None:
                    shutil.rmtree(args.dry_run / GALLERY_DIR, ignore_errors=True)
                    shutil.copytree(gallery, args.dry_run / GALLERY_DIR)
                print(f"dry run: wrote {', '.join(FOLDER_FILES)} to {args.dry_run}; nothing was uploaded")
                return 0
            uploaded = upload(
                folder,
                str(repo_id),
                revision=args.revision,
                private=args.private,
                endpoint=args.endpoint,
                commit_message=args.commit_message,
            )
    except (UploadError, ExplainerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except HfHubHTTPError as exc:
        print(f"error: the Hub refused the upload: {exc}", file=sys.stderr)
        return 1
    if uploaded.new_commit:
        print(f"uploaded: {uploaded.repo_url} (branch {uploaded.revision})")
    else:
        print(f"unchanged: {uploaded.repo_url} (branch {uploaded.revision}) already holds exactly these files")
    print(f"commit: {uploaded.commit_sha}")
    print(f"load it in the Space as {uploaded.repo_id}@{uploaded.commit_sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
