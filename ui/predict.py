"""The Prediction tab (/predict) and model loading (/load_model, also run when the page opens)."""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np

import explainers as xai
from explainers import cost, targets
from explainers.layers import candidate_layers

from . import corrections, gpu
from .common import CHEAP_CONCURRENCY, TOP1, endpoint, last_error, model, require_image
from .components import Inputs, blank, failed, show_results

TOP_CLASSES = 10  # scores handed to the label component, which shows the first 5
TOP_TARGETS = 5  # the photo's top classes listed first among the targets


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
    cost.forward_seconds(loaded)  # measured once per model, for the tabs' cost estimates
    choices = _target_choices(loaded)
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


def on_predict_upload(image: Any, model_id: str, revision: str) -> tuple[Any, ...]:
    """Predict as soon as a photo comes in (private): the Prediction tab, and the targets with its top classes first."""
    if image is None or image == "":
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()  # cleared with every tab's results when the photo went
    label, decision, result = on_predict(image, model_id, revision)
    loaded = model(model_id, revision)
    scores = {name: float(p) for name, p in label.items()}
    names = loaded.task.names
    return label, decision, result, gr.update(choices=_target_choices(loaded, [scores.get(n, -1.0) for n in names]))


def on_target_key(target: str, model_id: str, revision: str, key: gr.KeyUpData) -> Any:
    """Enter in the Target box picks the name typed exactly (the list's filter takes the first name containing it)."""
    if key.key != "Enter":
        return gr.skip()
    loaded = model(model_id, revision)
    exact = targets.exact_name([TOP1, *loaded.task.names], key.input_value)
    return exact if exact is not None and exact != target else gr.skip()


def on_load_failed(model_id: str, request: gr.Request) -> tuple[Any, ...]:
    """The model line says what failed (the targets and layers stay those of the model that last loaded)."""
    text = f"❌ **Could not load `{model_id}`** · {last_error(request)}. Fix the Model box or type `default`."
    return text, gr.skip(), gr.skip()


def _target_choices(loaded: xai.LoadedModel, scores: list[float] | None = None) -> list[str]:
    """top-1 (classifiers), then the top classes when the photo's scores are known, then every name, shortest first."""
    head = [TOP1] if loaded.task.kind != "regression" else []
    ranked = targets.ranked_choices(loaded.task.names, scores, top=TOP_TARGETS if scores is not None else 0)
    return head + ranked


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


def build(inputs: Inputs) -> list[gr.components.Component]:
    """The Prediction tab; prediction is one forward pass, in its own group so it never waits behind a GPU job.

    Returns:
        its outputs (label, decision, result), which a new upload fills too (wire_loading).
    """
    with gr.Tab("Prediction"):
        predict_button = gr.Button("Predict", variant="primary")
        decision = gr.Markdown()
        label = gr.Label(num_top_classes=5, label="Top classes")
        result = gr.JSON(label="Result")
        corrections.build(inputs)
    run = predict_button.click(
        on_predict,
        inputs.upload,
        [label, decision, result],
        api_name="predict",
        concurrency_id="predict",
        concurrency_limit=CHEAP_CONCURRENCY,
    )
    show_results(inputs, run, [decision, label, result])
    return [label, decision, result]


def wire_loading(demo: gr.Blocks, inputs: Inputs, layer: gr.Dropdown, prediction: list[Any]) -> None:
    """Load the model on the button, when the page opens and when a model is picked: model line, its targets and
    its Grad-CAM layers. A new photo or model clears every tab's results and predicts (``prediction``: the
    Prediction tab's outputs); Enter in the Target box picks the name typed exactly.
    """
    loading = (on_load_model, [inputs.model_id, inputs.revision], [inputs.model_info, inputs.target, layer])
    cheap: dict[str, Any] = {"concurrency_id": "cheap", "concurrency_limit": CHEAP_CONCURRENCY}
    private: dict[str, Any] = {"api_visibility": "private"}
    results = list(dict.fromkeys(inputs.results))
    clear = (lambda: blank(results), None, results)
    predicting = (on_predict_upload, inputs.upload, [*prediction, inputs.target])
    load_failed = (on_load_failed, [inputs.model_id], [inputs.model_info, inputs.target, layer])

    def predict_afresh(cleared: Any) -> None:
        failing = (failed(prediction), None, prediction)
        cleared.then(*predicting, **private, **cheap).failure(*failing, queue=False, show_progress="hidden", **private)

    clicked = inputs.load_button.click(*loading, api_name="load_model", **cheap)  # first: it owns the name
    demo.load(*loading, **private).failure(*load_failed, queue=False, **private)
    picked = inputs.picker.input(_pick, inputs.picker, [inputs.model_id, inputs.revision], queue=False, **private)
    for changed in (clicked, picked.then(*loading, **private, **cheap)):
        changed.failure(*load_failed, queue=False, **private)
        predict_afresh(changed.success(*clear, queue=False, show_progress="hidden", **private))
    predict_afresh(inputs.image.change(*clear, queue=False, show_progress="hidden", **private))
    inputs.target.key_up(
        on_target_key, [inputs.target, inputs.model_id, inputs.revision], inputs.target, queue=False, **private
    )


def _pick(repo_id: str | None) -> tuple[Any, Any]:
    """The picked model into the Model box (its default branch); nothing when the pick is cleared."""
    return (repo_id, "") if repo_id else (gr.skip(), gr.skip())
