"""The Prediction tab (/predict) and model loading (/load_model, also run when the page opens)."""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np

import explainers as xai
from explainers.layers import candidate_layers

from . import corrections, gpu
from .common import CHEAP_CONCURRENCY, TOP1, endpoint, model, require_image
from .components import Inputs

TOP_CLASSES = 10  # scores handed to the label component, which shows the first 5


@endpoint(
    "load_model",
    returns=(
        "model_info: the model's id, architecture, task, outputs, input size, revision and weights sha256, Markdown",
        "target: the targets it can explain (top-1, then every class / label / output name)",
        "layer: its Grad-CAM layers, the recommended one first",
    ),
)
def on_load_model(model_id: str, revision: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Load a model (once; later calls take it from memory) and list what can be explained with it."""
    loaded = model(model_id, revision)
    choices = ([TOP1] if loaded.task.kind != "regression" else []) + list(loaded.task.names)
    layers = [choice.key for choice in candidate_layers(loaded)]
    return (
        _model_info(loaded),
        gr.update(choices=choices, value=choices[0]),
        gr.update(choices=layers, value=layers[0] if layers else None),
    )


@endpoint(
    "predict",
    returns=(
        "label: the top classes (or labels) with their probabilities; empty for regression",
        "decision: the model's answer in one line, Markdown",
        "result: JSON with the model id, revision, task, decision, and the top classes, labels or values with units",
    ),
)
def on_predict(image: Any, model_id: str, revision: str) -> tuple[dict[str, float], str, dict[str, Any]]:
    """What the model predicts for a photo: top-5 classes, the labels over threshold, or regression values."""
    loaded = model(model_id, revision)  # outside the GPU function: loads once, then from memory
    prediction = gpu.predict(model_id, revision, require_image(image))
    result = {"model_id": loaded.model_id, "revision": loaded.revision, **prediction.to_dict()}
    return _label_value(prediction), f"### {prediction.decision}", result


def _model_info(loaded: xai.LoadedModel) -> str:
    h, w = loaded.input_size
    rev = loaded.revision or "local"
    return (
        f"**{loaded.model_id}** · `{loaded.architecture}` · {loaded.task.kind}, {loaded.task.num_outputs} outputs · "
        f"input {h}x{w} · revision `{rev[:12]}` · weights sha256 `{loaded.weights_sha256[:12]}`"
    )


def _label_value(prediction: xai.Prediction) -> dict[str, float]:
    if prediction.task == "regression":
        return {}
    order = np.argsort(-prediction.scores)[:TOP_CLASSES]
    return {prediction.names[i]: float(prediction.scores[i]) for i in order}


def build(inputs: Inputs) -> None:
    """The Prediction tab; prediction is one forward pass, in its own group so it never waits behind a GPU job."""
    with gr.Tab("Prediction"):
        predict_button = gr.Button("Predict", variant="primary")
        decision = gr.Markdown()
        label = gr.Label(num_top_classes=5, label="Top classes")
        result = gr.JSON(label="Result")
        corrections.build(inputs)
    predict_button.click(
        on_predict,
        inputs.upload,
        [label, decision, result],
        api_name="predict",
        concurrency_id="predict",
        concurrency_limit=CHEAP_CONCURRENCY,
    )


def wire_loading(demo: gr.Blocks, inputs: Inputs, layer: gr.Dropdown) -> None:
    """Load the model on the button, when the page opens and when a model is picked: model line, its targets and
    its Grad-CAM layers.
    """
    loading = (on_load_model, [inputs.model_id, inputs.revision], [inputs.model_info, inputs.target, layer])
    cheap: dict[str, Any] = {"concurrency_id": "cheap", "concurrency_limit": CHEAP_CONCURRENCY}
    inputs.load_button.click(*loading, api_name="load_model", **cheap)
    demo.load(*loading, api_visibility="private")
    picked = inputs.picker.input(
        _pick, inputs.picker, [inputs.model_id, inputs.revision], api_visibility="private", queue=False
    )
    picked.then(*loading, api_visibility="private", **cheap)


def _pick(repo_id: str | None) -> tuple[Any, Any]:
    """The picked model into the Model box (its default branch); nothing when the pick is cleared."""
    return (repo_id, "") if repo_id else (gr.skip(), gr.skip())
