"""The folder a Hub repo is made of: the model built from a checkpoint, config.json, model.safetensors, README.md."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import timm
import torch
from timm.data.config import resolve_data_config
from timm.models._hub import load_model_config_from_path  # timm exports no public name for it

from explainers.models.sources import CONFIG_NAME, WEIGHTS_NAME
from explainers.models.tasks import task_config

from .card import render_card
from .checkpoint import Checkpoint, fit_leading_component, read_checkpoint
from .description import ModelDescription
from .errors import UploadError

README_NAME = "README.md"
FOLDER_FILES = (CONFIG_NAME, WEIGHTS_NAME, README_NAME)
ATOL = 1e-5  # verify_folder's tolerance; defined here because the card states it
_TOL = f"{ATOL:.0e}".replace("e-0", "e-")  # "1e-5" in messages and the card
# What timm.models.save_for_hf(data_config=...) records (timm.data.resolve_data_config's argument names).
DATA_CONFIG_KEYS = frozenset(
    {
        "input_size",
        "img_size",
        "mean",
        "std",
        "interpolation",
        "crop_pct",
        "crop_mode",
        "test_input_size",
        "test_crop_pct",
    }
)


def build_model(arch: str, num_outputs: int, model_args: Mapping[str, Any] | None = None) -> torch.nn.Module:
    """``timm.create_model(arch, pretrained=False, num_classes=num_outputs, **model_args)``, in eval mode.

    Raises:
        UploadError: the architecture is unknown or does not accept the model args.
    """
    model_args = dict(model_args or {})
    if "num_classes" in model_args and model_args.pop("num_classes") != num_outputs:
        raise UploadError("--model-args must not set num_classes: it is the number of --labels / --targets")
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UploadError(f"--arch {arch!r} is not a timm model (timm {timm.__version__}){hint}")
    try:
        model = timm.create_model(arch, pretrained=False, num_classes=num_outputs, **model_args)
    except (TypeError, ValueError, AssertionError, RuntimeError) as exc:
        raise UploadError(f"cannot build {arch} with --model-args {json.dumps(model_args)} ({exc})") from exc
    return model.eval()


def load_checkpoint_into(
    model: torch.nn.Module, checkpoint: Checkpoint, description: ModelDescription, arch: str
) -> None:
    """Strict-load the checkpoint, explaining a head that does not match the names before anything else.

    Raises:
        UploadError: the label/target count differs from the checkpoint's head, or the weights do not fit the
            architecture.
    """
    expected = model.state_dict()
    state = fit_leading_component(checkpoint.state_dict, expected)
    mismatched = {
        k: (tuple(state[k].shape), tuple(v.shape))
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    }
    head = _classifier_param_names(model)
    head_weight = next((k for k in head if k.endswith("weight") and k in mismatched), None)
    if head_weight is not None:
        outputs = mismatched[head_weight][0][0]
        flag = "--targets" if description.task.kind == "regression" else "--labels"
        noun = "targets" if description.task.kind == "regression" else "labels"
        raise UploadError(
            f"{flag} gives {description.task.num_outputs} {noun} but the checkpoint's head ({head_weight}, shape "
            f"{list(mismatched[head_weight][0])}) has {outputs} outputs; give exactly one name per output, in output "
            "order"
        )
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected or mismatched:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        if mismatched:
            first = next(iter(mismatched.items()))
            problems.append(
                f"{len(mismatched)} of another shape (e.g. {first[0]}: checkpoint {list(first[1][0])}, "
                f"model {list(first[1][1])})"
            )
        raise UploadError(
            f"{checkpoint.path.name} does not fit {arch}: {'; '.join(problems)}. Check --arch and "
            "--model-args (e.g. '{\"img_size\": 384}' or '{\"drop_path_rate\": 0}'), or --weights-key"
        )
    model.load_state_dict(state, strict=True)


def _classifier_param_names(model: torch.nn.Module) -> list[str]:
    get_classifier = getattr(model, "get_classifier", None)
    classifier = get_classifier() if callable(get_classifier) else None
    if isinstance(classifier, torch.nn.Module):
        for name, module in model.named_modules():
            if module is classifier and name:
                return [f"{name}.{p}" for p, _ in module.named_parameters()]
    cfg: Any = getattr(model, "pretrained_cfg", None) or {}
    names = cfg.get("classifier")
    prefixes = [names] if isinstance(names, str) else list(names or [])
    return [k for k in model.state_dict() if any(k.startswith(f"{p}.") for p in prefixes)]


def build_folder(
    out_dir: str | Path,
    *,
    arch: str,
    weights: str | Path | Checkpoint,
    description: ModelDescription,
    model_args: Mapping[str, Any] | None = None,
    data_config: Mapping[str, Any] | None = None,
    weights_key: str | None = None,
    repo_id: str | None = None,
) -> Path:
    """Write config.json, model.safetensors and README.md for a checkpoint into out_dir (created if missing).

    config.json holds timm's keys exactly as ``timm.models.save_for_hf`` writes them plus the task metadata;
    README.md is model_card.md rendered with ModelCard.from_template.

    Args:
        out_dir: an empty or missing folder.
        arch: timm architecture, optionally with a pretrained tag whose preprocessing to record (resnet50.a1_in1k).
        weights: .safetensors, or a PyTorch checkpoint read with weights_only=True (or one read_checkpoint read).
        description: task metadata and card metadata.
        model_args: extra timm.create_model arguments the checkpoint was trained with.
        data_config: preprocessing to record instead of the architecture's (input_size, mean, std, crop_pct, ...).
        weights_key: the checkpoint entry holding the weights, when it is not found automatically.
        repo_id: the Hub id, for the card's loading instructions.

    Raises:
        UploadError: anything wrong with the inputs, said in the command line's words.
    """
    description.validate()
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise UploadError(f"{out} is not empty; expected an empty or missing folder")
    checkpoint = weights if isinstance(weights, Checkpoint) else read_checkpoint(weights, key=weights_key)
    model = build_model(arch, description.task.num_outputs, model_args)
    load_checkpoint_into(model, checkpoint, description, arch)
    pretrained_cfg: dict[str, Any] = {"license": description.license}  # not the license of timm's own weights
    try:
        timm.models.save_for_hf(
            model,
            str(out),
            model_config={**task_config(description.task), "pretrained_cfg": pretrained_cfg},
            model_args=dict(model_args or {}),
            data_config=dict(data_config) if data_config else None,
            safe_serialization=True,
        )
    except (ValueError, RuntimeError, TypeError) as exc:
        raise UploadError(f"timm could not export {arch} ({exc})") from exc
    saved_cfg, _, _ = load_model_config_from_path(out)
    card = render_card(
        model,
        description,
        arch=arch,
        data_config=_data_config(saved_cfg),
        repo_id=repo_id,
        weights_text=f"`{checkpoint.path.name}`, published with upload_model.py after checking that "
        f"this folder reproduces its outputs within {_TOL}",
    )
    (out / README_NAME).write_text(str(card), encoding="utf-8")
    return out


def _data_config(pretrained_cfg: Mapping[str, Any]) -> dict[str, Any]:
    return dict(resolve_data_config({}, pretrained_cfg=dict(pretrained_cfg)))
