"""Gradio Space: what a timm image model predicts and why (Grad-CAM, occlusion, IG, counterfactuals)."""

from __future__ import annotations

import os

# Quiet and offline-friendly by default; huggingface_hub and gradio read these at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import spaces  # noqa: I001 - ZeroGPU needs spaces imported before anything touches CUDA

import argparse
import contextlib
import functools
import json
import logging
import shutil
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import gradio as gr
import numpy as np
from PIL import Image

import explainers as xai
from explainers import counterfactual as cf_defaults
from explainers import pipeline, render
from explainers.models.predict import prepare
from explainers.models.sources import resolve_source
from explainers.models import images
from explainers.trust import receipt
from explainers.trust import report
from explainers.layers import candidate_layers

log = logging.getLogger("app")

ROOT = Path(__file__).resolve().parent
EXAMPLES = [str(ROOT / "examples" / f"{name}.jpg") for name in ("coffee", "chelsea", "astronaut", "rocket")]
# One GPU job at a time on ZeroGPU; raise it on a dedicated GPU with XAI_GPU_CONCURRENCY.
GPU_CONCURRENCY = int(os.environ.get("XAI_GPU_CONCURRENCY", "1"))
QUEUE_SIZE = int(os.environ.get("XAI_QUEUE_SIZE", "32"))
CHEAP_CONCURRENCY = int(os.environ.get("XAI_CHEAP_CONCURRENCY", "4"))
DIRECTIONS = ["raises", "lowers"]
OUTPUTS = Path(tempfile.gettempdir()) / "xai-outputs"  # .npy maps, receipts, counterfactual PNGs
OUTPUT_TTL_S = 3600
OVERLAY_ALPHA = 0.75  # opacity at full scale; zero stays transparent, so the photo shows through weak evidence
BADGE_ICONS = {"pass": "✅", "warn": "⚠️", "fail": "❌"}
METHODS = ["gradcam", "occlusion", "integrated_gradients"]
COMPARE_CELLS = 16  # Compare shows every map at one resolution: a 16 x 16 grid, as the scorecard compares them
METHOD_LABELS = {"gradcam": "Grad-CAM", "occlusion": "Occlusion", "integrated_gradients": "Integrated gradients"}
# Deletion/insertion steps of the scorecard shown with every map (fewer = faster; 16 is the library default).
QUALITY_STEPS = int(os.environ.get("XAI_QUALITY_STEPS", str(pipeline.QUALITY_STEPS)))
TOP1 = "top-1"
DEFAULT_SOURCE = xai.parse_source(os.environ.get("XAI_MODEL"), allow_local=True)

F = TypeVar("F", bound=Callable[..., Any])


class View(NamedTuple):
    """The CPU-side facts about an upload that rendering needs."""

    rgb: np.ndarray
    crop_box: tuple[float, float, float, float]
    sha256: str


class SafeImage(gr.Image):
    """gr.Image that hands the raw upload path to our decoder instead of opening it with PIL itself.

    gr.Image's own preprocessing calls PIL.Image.open, so a corrupt file fails there with Gradio's generic "error"
    before our code runs; explainers.images.load_image gives the user a message that says what was wrong.
    """

    is_template = True  # keeps the front-end component "image"

    def preprocess(self, payload: Any) -> Any:
        if payload is not None and getattr(payload, "path", None) and not str(payload.url or "").startswith("data:"):
            return str(payload.path)
        try:
            return super().preprocess(payload)
        except Exception as exc:
            raise gr.Error(
                f"The upload is not a usable image ({type(exc).__name__}: {exc}). Upload a PNG, JPEG or WebP photo."
            ) from exc


def user_errors(fn: F) -> F:
    """ExplainerError -> gr.Error (the message the user reads); everything else propagates and is logged."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except xai.ExplainerError as exc:
            raise gr.Error(str(exc), title=type(exc).__name__) from exc

    return wrapper  # type: ignore[return-value]


def _model(model_id: str | None, revision: str | None) -> xai.LoadedModel:
    return xai.load_model(resolve_source(model_id, revision, DEFAULT_SOURCE))


def _number(value: Any, name: str, *, integer: bool = False) -> Any:
    """A finite number from a UI/API field, or an OptionError that names the field (no bare int()/float() crash)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise xai.OptionError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise xai.OptionError(f"{name} must be a finite number, got {value!r}")
    if integer:
        if number != int(number):
            raise xai.OptionError(f"{name} must be a whole number, got {value!r}")
        return int(number)
    return number


def _require_image(image: Any) -> Any:
    if image is None or image == "":
        raise xai.ImageError("no image was given: upload a photo (PNG, JPEG, WebP...) or pick an example")
    return image


def _progress(progress: gr.Progress | None) -> Callable[[float, str], None] | None:
    """Progress for the explainers; it also stops the job (CancelledError) once the visitor has left the page."""
    if progress is None:
        return None
    alive = _event_alive()

    def report(fraction: float, desc: str) -> None:
        if not alive():
            raise xai.CancelledError("the visitor left the page; the job was stopped to free the GPU for others")
        progress(fraction, desc=desc)

    return report


def _event_alive() -> Callable[[], bool]:
    """Whether this request's queue event is still wanted.

    Gradio marks an event dead (Queue.clean_events) when its session's stream disconnects and drops it from the
    running jobs on /cancel, but a sync handler's thread keeps running (and its concurrency slot is handed to the
    next job). The methods call progress often, so checking here ends the job at its next step. Uses Gradio's
    queue internals, read only; outside a queued request it answers True.
    """
    from gradio.context import LocalContext

    blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)
    if queue is None or event_id is None:
        return lambda: True

    def alive() -> bool:
        # A running event sits in active_jobs; /cancel ends its asyncio task, which takes it out, and a visitor
        # who closes the page leaves it there with alive=False.
        for job in list(queue.active_jobs):
            for event in job or ():
                if event._id == event_id:
                    return bool(event.alive)
        return False

    return alive


def _output_folder() -> Path:
    """A fresh folder for one request's files, under one parent whose entries older than OUTPUT_TTL_S are removed."""
    OUTPUTS.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in OUTPUTS.iterdir():
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > OUTPUT_TTL_S:
                shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=OUTPUTS))


def _save_npy(heatmap: np.ndarray, stem: str) -> str:
    path = _output_folder() / f"{stem}.npy"
    np.save(path, heatmap.astype(np.float32))
    return str(path)


def _model_info(loaded: xai.LoadedModel) -> str:
    _, h, w = loaded.data_config["input_size"]
    rev = loaded.revision or "local"
    return (
        f"**{loaded.model_id}** · `{loaded.architecture}` · {loaded.task.kind}, {loaded.task.num_outputs} outputs · "
        f"input {h}x{w} · revision `{rev[:12]}` · weights sha256 `{loaded.weights_sha256[:12]}`"
    )


def _label_value(prediction: xai.Prediction) -> dict[str, float]:
    if prediction.task == "regression":
        return {}
    order = np.argsort(-prediction.scores)[:10]
    return {prediction.names[i]: float(prediction.scores[i]) for i in order}


@spaces.GPU(duration=30)
def _gpu_predict(model_id: str, revision: str, image: Any) -> xai.Prediction:
    _, prediction = prepare(_model(model_id, revision), image)
    return prediction


@user_errors
def on_load_model(model_id: str, revision: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Load (or fetch from memory) a model; offer its outputs as targets and its Grad-CAM layers."""
    loaded = _model(model_id, revision)
    choices = ([TOP1] if loaded.task.kind != "regression" else []) + list(loaded.task.names)
    layers = [choice.key for choice in candidate_layers(loaded)]
    return (
        _model_info(loaded),
        gr.update(choices=choices, value=choices[0]),
        gr.update(choices=layers, value=layers[0] if layers else None),
    )


@user_errors
def on_predict(image: Any, model_id: str, revision: str) -> tuple[dict[str, float], str, dict[str, Any]]:
    """Predict: top-k classes, labels over threshold, or regression values with units."""
    loaded = _model(model_id, revision)  # outside the GPU function: loads once, then from memory
    prediction = _gpu_predict(model_id, revision, _require_image(image))
    result = {"model_id": loaded.model_id, "revision": loaded.revision, **prediction.to_dict()}
    return _label_value(prediction), f"### {prediction.decision}", result


def _explain_duration(
    model_id: str,
    revision: str,
    image: Any,
    method: str,
    target: str,
    direction: str,
    options: dict[str, Any],
    progress: Any = None,
) -> int:
    """ZeroGPU duration estimate from the job's size (seconds): windows for occlusion, gradient passes for IG."""
    if method == "occlusion":
        window, stride = max(1, int(options.get("window") or 32)), max(1, int(options.get("stride") or 16))
        windows = (max(0, 224 - window) // stride + 1) ** 2  # at the usual 224 px input
        return 15 + windows // 20
    if method == "integrated_gradients":
        passes = int(options.get("n_steps") or 32) * max(1, int(options.get("smooth_samples") or 0))
        return 15 + passes // 16
    return 20


@spaces.GPU(duration=_explain_duration)
def _gpu_explain(
    model_id: str,
    revision: str,
    image: Any,
    methods: list[str],
    target: str,
    direction: str,
    options: dict[str, dict[str, Any]],
    progress: Any = None,
) -> tuple[View, list[pipeline.Scored]]:
    """Runs where the GPU is: the maps, their scorecards and receipts; returns only CPU arrays (ZeroGPU pickles)."""
    loaded = _model(model_id, revision)
    prepared, prediction = prepare(loaded, image)
    scored = pipeline.explain_scored(
        loaded,
        prepared,
        prediction,
        methods,
        target=None if target in (None, "", TOP1) else target,
        direction=direction,
        options=options,
        quality_steps=QUALITY_STEPS,
        progress=progress,
    )
    return View(prepared.rgb, prepared.crop_box, prepared.sha256), scored


def _picture(loaded: xai.LoadedModel, view: View, explanation: xai.Explanation, scale: float | None = None) -> Any:
    picture = render.overlay(
        view.rgb,
        explanation.heatmap,
        view.crop_box,
        scale=scale,
        signed=True,
        alpha=OVERLAY_ALPHA,
        label=f"{explanation.method}: {explanation.target.name} ({explanation.target.direction})",
    )
    box = explanation.extras.get("critical_box")
    if box is not None:
        picture = render.mark_box(picture, tuple(box), view.crop_box, model_hw=loaded.input_size)
    return picture


def _badge(scored: pipeline.Scored) -> str:
    card = scored.scorecard
    lines = [f"{BADGE_ICONS.get(card.badge, '')} **{card.badge.upper()}** · {card.reason}"]
    lines += [f"- {note}" for note in (*scored.explanation.notes, *card.notes)]
    return "\n".join(lines)


def _save_receipt(receipts: list[dict[str, Any]] | dict[str, Any], stem: str) -> str:
    path = _output_folder() / f"receipt-{stem}.json"
    path.write_text(json.dumps(receipts, indent=2, default=str))
    return str(path)


def _run(
    method: str,
    image: Any,
    model_id: str,
    revision: str,
    target: str,
    direction: str,
    options: dict[str, Any],
    progress: gr.Progress | None,
) -> tuple[Any, ...]:
    loaded = _model(model_id, revision)  # outside the GPU function: loads once, then from memory
    view, (scored,) = _gpu_explain(
        model_id, revision, _require_image(image), [method], target, direction, {method: options}, _progress(progress)
    )
    rec = json.loads(json.dumps(scored.receipt, default=str))
    return (
        _picture(loaded, view, scored.explanation),
        _badge(scored),
        report.report(rec),
        _save_npy(scored.explanation.heatmap, method),
        _save_receipt(rec, f"{method}-{view.sha256[:8]}"),
        rec,
    )


@user_errors
def on_gradcam(
    image: Any,
    model_id: str,
    revision: str,
    target: str,
    direction: str,
    layer: str,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:
    """Grad-CAM on the model's final feature map (or a chosen stage)."""
    options = {"layer": layer or None}
    return _run("gradcam", image, model_id, revision, target, direction, options, progress)


@user_errors
def on_occlusion(
    image: Any,
    model_id: str,
    revision: str,
    target: str,
    direction: str,
    window: float,
    stride: float,
    baselines: str,
    mode: str,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:
    """Occlusion sensitivity: how much the target drops when each window is hidden."""
    options = {
        "window": _number(window, "window", integer=True),
        "stride": _number(stride, "stride", integer=True),
        "baselines": baselines,
        "mode": mode,
    }
    return _run("occlusion", image, model_id, revision, target, direction, options, progress)


@user_errors
def on_integrated_gradients(
    image: Any,
    model_id: str,
    revision: str,
    target: str,
    direction: str,
    n_steps: float,
    baselines: str,
    smooth_samples: float,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:
    """Integrated gradients from a baseline, with the completeness delta reported."""
    options = {
        "n_steps": _number(n_steps, "n_steps", integer=True),
        "baselines": baselines,
        "smooth_samples": _number(smooth_samples, "smooth_samples", integer=True),
    }
    return _run("integrated_gradients", image, model_id, revision, target, direction, options, progress)


COMPARE_OPTIONS: dict[str, dict[str, Any]] = {
    "occlusion": {"mode": "auto"},
    "integrated_gradients": {"n_steps": 64, "baselines": "blur"},
}


@user_errors
def on_compare(
    image: Any,
    model_id: str,
    revision: str,
    target: str,
    direction: str,
    methods: list[str],
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:
    """Run several methods for one target: side by side on one colour scale, scorecards with their agreement."""
    loaded = _model(model_id, revision)
    chosen = [m for m in METHODS if m in (methods or [])]
    options = {m: COMPARE_OPTIONS.get(m, {}) for m in chosen}
    view, scored = _gpu_explain(
        model_id, revision, _require_image(image), chosen, target, direction, options, _progress(progress)
    )
    # Methods speak different units (logit drop per window, per-pixel attribution, channel-weighted activation) and
    # resolutions, so each map is put in one unit first: evidence density on a 16 x 16 grid, 1 = spread evenly.
    densities = [
        s.explanation.with_updates(heatmap=_density(s.explanation.heatmap), method=f"{s.explanation.method} density")
        for s in scored
    ]
    scale = render.shared_scale([d.heatmap for d in densities])
    panels = [_picture(loaded, view, d, scale=scale) for d in densities]
    picture = render.side_by_side(panels, [f"{METHOD_LABELS[s.explanation.method]}" for s in scored])
    receipts = [json.loads(json.dumps(s.receipt, default=str)) for s in scored]
    cards = "\n\n".join(f"**{METHOD_LABELS[s.explanation.method]}**: {_badge(s)}" for s in scored)
    if len(scored) > 1:
        header = "| | " + " | ".join(METHOD_LABELS[s.explanation.method] for s in scored) + " |"
        rows = [header, "|---" * (len(scored) + 1) + "|"]
        for s in scored:
            cells = [
                "1" if o is s else f"{s.scorecard.agreement.get(o.explanation.method, float('nan')):.2f}"
                for o in scored
            ]
            rows.append(f"| {METHOD_LABELS[s.explanation.method]} | " + " | ".join(cells) + " |")
        cards += "\n\n**Agreement** (rank correlation of where each map puts the evidence)\n\n" + "\n".join(rows)
    text = report.report(receipts[0], others=receipts[1:])
    return picture, cards, text, _save_receipt(receipts, f"compare-{view.sha256[:8]}"), receipts


def _density(heatmap: np.ndarray, cells: int = COMPARE_CELLS) -> np.ndarray:
    """Average the map over a cells x cells grid (the scorecard's resolution), then scale it so 1 = even spread."""
    h, w = heatmap.shape
    pooled = Image.fromarray(heatmap.astype(np.float32), mode="F").resize((cells, cells), Image.Resampling.BOX)
    smooth = np.asarray(pooled.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    mass = float(np.abs(smooth).mean())
    return smooth / mass if mass > 0 else smooth


@spaces.GPU(duration=60)
def _gpu_replay(receipt_data: dict[str, Any], image: Any) -> xai.Explanation:
    return receipt.replay(receipt_data, image, loader=_model)


@user_errors
def on_replay(image: Any, receipt_file: Any, map_file: Any) -> tuple[Any, ...]:
    """Replay: rerun the map a receipt describes on the same image, and check it against the map you kept."""
    if not receipt_file:
        raise xai.OptionError("no receipt was given: upload the receipt JSON a tab or endpoint returned")
    try:
        data = json.loads(Path(receipt_file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise xai.OptionError(f"the receipt is not readable JSON ({exc}); upload the file the app wrote") from exc
    if isinstance(data, list):  # a Compare receipt: replay its first map
        data = data[0] if data else {}
    if not isinstance(data, dict):
        raise xai.OptionError("the receipt must be a JSON object (or the list a Compare run wrote)")
    explanation = _gpu_replay(data, _require_image(image))
    result: dict[str, Any] = {
        "method": explanation.method,
        "target": explanation.target.name,
        "heatmap_sha256": receipt.heatmap_sha256(explanation.heatmap),
        "bitwise_identical": receipt.heatmap_sha256(explanation.heatmap) == data.get("heatmap_sha256"),
    }
    if map_file:
        kept = _load_map(map_file)
        if kept.shape != explanation.heatmap.shape:
            raise xai.OptionError(f"the kept map is {kept.shape}, the replayed one {explanation.heatmap.shape}")
        result["reproduced"] = receipt.same_map(explanation.heatmap, kept)
        result["max_abs_difference"] = float(np.abs(explanation.heatmap - kept).max())
    return _save_npy(explanation.heatmap, f"replay-{explanation.method}"), result


def _load_map(path: Any) -> np.ndarray:
    try:
        kept = np.load(str(path), allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise xai.OptionError(f"the kept map is not a .npy array ({exc}); upload the .npy the app returned") from exc
    if kept.ndim != 2 or not np.issubdtype(kept.dtype, np.floating):
        raise xai.OptionError(f"the kept map must be a 2-D float array, got {kept.dtype} {kept.shape}")
    return kept.astype(np.float32)


def _cf_duration(
    model_id: str,
    revision: str,
    image: Any,
    goal: str,
    options: dict[str, Any],
    mask_threshold: float,
    progress: Any = None,
) -> int:
    """ZeroGPU duration estimate: about 0.1 s a step for a batch of restarts, plus loading and rendering."""
    return 20 + int(options.get("max_steps", 200)) // 10


@spaces.GPU(duration=_cf_duration)
def _gpu_counterfactual(
    model_id: str,
    revision: str,
    image: Any,
    goal: str,
    options: dict[str, Any],
    mask_threshold: float,
    progress: Any = None,
) -> tuple[View, xai.Counterfactual]:
    loaded = _model(model_id, revision)
    prepared, prediction = prepare(loaded, image)
    result = pipeline.counterfactual(
        loaded, prepared, prediction, goal, options=options, mask_threshold=mask_threshold, progress=progress
    )
    return View(prepared.rgb, prepared.crop_box, prepared.sha256), result


@user_errors
def on_counterfactual(
    image: Any,
    model_id: str,
    revision: str,
    goal: str,
    l2: float,
    l1: float,
    tv: float,
    max_steps: float,
    mask_threshold: float,
    seed: float,
    threshold: float,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:
    """Counterfactual: the smallest, smoothest change that moves the prediction to the goal."""
    loaded = _model(model_id, revision)
    options = {
        "l2": _number(l2, "l2"),
        "l1": _number(l1, "l1"),
        "tv": _number(tv, "tv"),
        "max_steps": _number(max_steps, "max_steps", integer=True),
        "seed": _number(seed, "seed", integer=True),
    }
    mask_threshold = _number(mask_threshold, "mask threshold")
    view, result = _gpu_counterfactual(
        model_id, revision, _require_image(image), goal, options, float(mask_threshold), _progress(progress)
    )
    if not result.valid:
        gr.Warning(result.message)
    cf_path = _output_folder() / "counterfactual.png"
    Image.fromarray(result.rgb).save(cf_path)
    summary = {
        "request": result.request,
        "valid": result.valid,
        "message": result.message,
        "metrics": result.metrics,
        "options": {**options, "mask_threshold": float(mask_threshold)},
        "model_id": loaded.model_id,
        "revision": loaded.revision,
        "weights_sha256": loaded.weights_sha256,
        "image_sha256": view.sha256,
    }
    state = {"rgb": view.rgb, "delta": result.delta, "crop_box": view.crop_box}
    return (
        str(cf_path),
        _save_npy(result.delta, "change"),
        json.loads(json.dumps(summary, default=str)),
        view.rgb,
        render.change_overlay(view.rgb, result.delta, view.crop_box),
        _masked(state, threshold),
        state,
    )


def _masked(state: dict[str, Any] | None, threshold: float) -> np.ndarray | None:
    if not state:
        return None
    return render.masked_by_change(state["rgb"], state["delta"], state["crop_box"], _number(threshold, "threshold"))


@user_errors
def on_change_threshold(state: dict[str, Any] | None, threshold: float) -> np.ndarray | None:
    """Re-mask the original at a new change threshold without recomputing the counterfactual."""
    return _masked(state, threshold)


def build_demo() -> gr.Blocks:
    """The Blocks UI; every public event has a stable api_name."""
    # Gradio's cached uploads and outputs older than an hour are deleted every hour.
    with gr.Blocks(title="Explain any timm image model", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            "# Explain any timm image model\nDrop in a photo, pick a model (the built-in EfficientNet-Lite0 "
            "or any timm repo on the Hub with safetensors weights) and see what it predicts and why."
        )
        with gr.Row():
            with gr.Column(scale=1):
                image = SafeImage(type="filepath", label="Image", sources=["upload", "clipboard"], height=320)
                gr.Examples(
                    examples=[[p] for p in EXAMPLES],
                    inputs=[image],
                    label="Example photos (CC0, see examples/CREDITS.md)",
                )
                with gr.Group():
                    model_id = gr.Textbox(
                        value="default",
                        label="Model",
                        info="'default' or a Hub repo id (owner/name) with config.json + model.safetensors",
                    )
                    revision = gr.Textbox(value="", label="Revision", info="branch, tag or commit sha (optional)")
                    load_btn = gr.Button("Load model", size="sm")
                    model_info = gr.Markdown()
                target = gr.Dropdown(
                    choices=[TOP1],
                    value=TOP1,
                    label="Target",
                    allow_custom_value=True,
                    info="class / label / output to explain",
                )
                direction = gr.Radio(DIRECTIONS, value="raises", label="Explain what ... the target")
            with gr.Column(scale=2), gr.Tabs():
                with gr.Tab("Prediction"):
                    predict_btn = gr.Button("Predict", variant="primary")
                    decision = gr.Markdown()
                    label = gr.Label(num_top_classes=5, label="Top classes")
                    predict_json = gr.JSON(label="Result")
                with gr.Tab("Grad-CAM"):
                    layer = gr.Dropdown(
                        choices=[],
                        value=None,
                        label="Layer",
                        allow_custom_value=True,
                        info="derived from timm's feature_info; the first is the recommended one",
                    )
                    gradcam_btn = gr.Button("Explain with Grad-CAM", variant="primary")
                    gradcam_outputs = _explanation_panel()
                with gr.Tab("Occlusion"):
                    with gr.Row():
                        window = gr.Slider(4, 112, value=32, step=4, label="Window (px)")
                        stride = gr.Slider(2, 56, value=16, step=2, label="Stride (px)")
                    with gr.Row():
                        occ_baseline = gr.Radio(["zero", "mean", "blur"], value="blur", label="Fill")
                        occ_mode = gr.Radio(
                            ["auto", "coarse_to_fine", "dense"],
                            value="auto",
                            label="Mode",
                            info="auto: dense on a GPU, coarse-to-fine (4x fewer forwards) on a CPU",
                        )
                    occlusion_btn = gr.Button("Explain with occlusion", variant="primary")
                    occlusion_outputs = _explanation_panel()
                with gr.Tab("Integrated gradients"):
                    with gr.Row():
                        n_steps = gr.Slider(4, 256, value=64, step=4, label="n_steps")
                        ig_baseline = gr.Radio(
                            ["blur", "black", "noise"],
                            value="blur",
                            label="Baseline",
                            info="blur converges fastest (completeness delta)",
                        )
                        smooth = gr.Slider(0, 16, value=0, step=1, label="SmoothGrad samples (0 = off)")
                    ig_btn = gr.Button("Explain with integrated gradients", variant="primary")
                    ig_outputs = _explanation_panel()
                with gr.Tab("Counterfactual"):
                    goal = gr.Textbox(
                        value="any other class",
                        label="Goal",
                        info="'any other class', a class name, "
                        "'cat on' / 'cat off' (multi-label), 'calories = 350; protein ± 5 g' (regression)",
                    )
                    with gr.Accordion("Options", open=False), gr.Row():
                        cf_l2 = gr.Number(value=cf_defaults.L2, label="L2 (stay close)")
                        cf_l1 = gr.Number(value=cf_defaults.L1, label="L1 (change few pixels)")
                        cf_tv = gr.Number(value=cf_defaults.TV, label="Total variation (smooth)")
                        cf_steps = gr.Slider(10, 1000, value=cf_defaults.MAX_STEPS, step=10, label="Max steps")
                        cf_mask = gr.Slider(0, 0.95, value=0, step=0.05, label="Confine to Grad-CAM above (0 = off)")
                        cf_seed = gr.Number(value=0, precision=0, label="Seed")
                    cf_btn = gr.Button("Find a counterfactual", variant="primary")
                    with gr.Row():
                        cf_original = gr.Image(label="Original", type="numpy", format="png", interactive=False)
                        cf_change = gr.Image(label="Change", type="numpy", format="png", interactive=False)
                    with gr.Row():
                        cf_image = gr.Image(label="Counterfactual", type="filepath", format="png", interactive=False)
                        cf_masked = gr.Image(label="Where it changed", type="numpy", format="png", interactive=False)
                    cf_threshold = gr.Slider(0, 1, value=0.6, step=0.05, label="Change threshold")
                    cf_npy = gr.File(label="Change (.npy, float32, model input size x 3)")
                    cf_json = gr.JSON(label="Result")
                    cf_state = gr.State()
                with gr.Tab("Compare"):
                    compare_methods = gr.CheckboxGroup(
                        [(METHOD_LABELS[m], m) for m in METHODS], value=METHODS, label="Methods"
                    )
                    compare_btn = gr.Button("Compare on one colour scale", variant="primary")
                    compare_image = gr.Image(label="Side by side", type="numpy", format="png", interactive=False)
                    compare_cards = gr.Markdown()
                    with gr.Accordion("Report", open=True):
                        compare_report = gr.Markdown()
                    compare_file = gr.File(label="Receipts (JSON)")
                    compare_json = gr.JSON(label="Receipts", open=False)
                with gr.Tab("Reproduce"):
                    gr.Markdown(
                        "Upload a receipt (and optionally the `.npy` map you kept) with the same image to "
                        "rerun the explanation and check it reproduces."
                    )
                    with gr.Row():
                        replay_receipt = gr.File(label="Receipt (.json)", file_types=[".json"], type="filepath")
                        replay_map = gr.File(label="Kept map (.npy, optional)", file_types=[".npy"], type="filepath")
                    replay_btn = gr.Button("Replay", variant="primary")
                    replay_npy = gr.File(label="Replayed map (.npy)")
                    replay_json = gr.JSON(label="Replay")

        common = [image, model_id, revision]
        gpu = {"concurrency_id": "gpu", "concurrency_limit": GPU_CONCURRENCY}
        load_btn.click(
            on_load_model,
            [model_id, revision],
            [model_info, target, layer],
            api_name="load_model",
            concurrency_id="cheap",
            concurrency_limit=CHEAP_CONCURRENCY,
        )
        # Prediction is one forward pass: its own group, so it never waits behind a long explanation.
        predict_btn.click(
            on_predict,
            common,
            [label, decision, predict_json],
            api_name="predict",
            concurrency_id="predict",
            concurrency_limit=CHEAP_CONCURRENCY,
        )
        gradcam_btn.click(on_gradcam, [*common, target, direction, layer], gradcam_outputs, api_name="gradcam", **gpu)
        occlusion_btn.click(
            on_occlusion,
            [*common, target, direction, window, stride, occ_baseline, occ_mode],
            occlusion_outputs,
            api_name="occlusion",
            **gpu,
        )
        ig_btn.click(
            on_integrated_gradients,
            [*common, target, direction, n_steps, ig_baseline, smooth],
            ig_outputs,
            api_name="integrated_gradients",
            **gpu,
        )
        cf_btn.click(
            on_counterfactual,
            [*common, goal, cf_l2, cf_l1, cf_tv, cf_steps, cf_mask, cf_seed, cf_threshold],
            [cf_image, cf_npy, cf_json, cf_original, cf_change, cf_masked, cf_state],
            api_name="counterfactual",
            **gpu,
        )
        compare_btn.click(
            on_compare,
            [*common, target, direction, compare_methods],
            [compare_image, compare_cards, compare_report, compare_file, compare_json],
            api_name="compare",
            **gpu,
        )
        replay_btn.click(
            on_replay, [image, replay_receipt, replay_map], [replay_npy, replay_json], api_name="replay", **gpu
        )
        cf_threshold.change(
            on_change_threshold, [cf_state, cf_threshold], cf_masked, api_visibility="private", queue=False
        )
        demo.load(on_load_model, [model_id, revision], [model_info, target, layer], api_visibility="private")
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=GPU_CONCURRENCY)
    return demo


def _explanation_panel() -> list[gr.components.Component]:
    overlay = gr.Image(label="Explanation", type="numpy", format="png", interactive=False)
    badge = gr.Markdown(label="Quality")
    with gr.Accordion("Report", open=True):
        text = gr.Markdown()
    with gr.Row():
        npy = gr.File(label="Raw map (.npy, float32, model input size)")
        receipt_file = gr.File(label="Receipt (JSON: replays this map)")
    result = gr.JSON(label="Receipt", open=False)
    return [overlay, badge, text, npy, receipt_file, result]


def main(argv: list[str] | None = None) -> None:
    """Python app.py [--model PATH_OR_REPO] [--host H] [--port P]."""
    global DEFAULT_SOURCE
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--model",
        default=os.environ.get("XAI_MODEL"),
        help="startup model: a local folder (config.json + model.safetensors) or owner/name[@rev]",
    )
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    DEFAULT_SOURCE = xai.parse_source(args.model, allow_local=True)
    xai.load_model(DEFAULT_SOURCE)  # once, at start, outside any GPU function
    build_demo().launch(
        server_name=args.host, server_port=args.port, show_error=True, max_file_size=images.MAX_UPLOAD_BYTES
    )


if __name__ == "__main__":
    main()
