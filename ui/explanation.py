"""What the single-method tabs share (Grad-CAM, occlusion, integrated gradients): one map, six outputs, streamed."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

import explainers as xai
from explainers import cost, display
from explainers.trust import report

from . import gpu, outputs
from .common import STOPPED, badge, model, picture, plain, require_image
from .components import Inputs, blank, explanation_panel, show_results
from .jobs import progress_for

LONG_S = 20  # past this estimate the tab warns before the job starts
KEPT_LEGENDS = 64  # the last runs' legends (map sha256 -> HTML), for the private event that follows each run
_legends: OrderedDict[str, str] = OrderedDict()
_legends_lock = threading.Lock()
SCORING = "⏳ **Scoring this map** · deletion/insertion against random order, then the model-randomisation check"

# What the three single-method endpoints share in their docstrings (common.endpoint): how they stream, what they return.
STREAMS = (
    "Streams: the overlay and the raw map first, as soon as the map exists, then the scorecard, report and receipt."
)
RETURNS = (
    "overlay: the map over the photo, PNG (red supports the target, blue opposes it)",
    "badge: the scorecard's verdict (pass, warn or fail) and its reason, Markdown",
    "report: plain-language report of the prediction, the map and how far to trust it, Markdown",
    "map: the raw signed map, float32 .npy at the model's input size",
    "receipt_file: the receipt as a JSON file; /replay reproduces the map from it",
    "receipt: the same receipt (model, image, method, options, target, scorecard, timings, versions)",
)


def run(
    method: str,
    image: Any,
    model_id: str,
    revision: str,
    target: str,
    direction: str,
    options: dict[str, Any],
    progress: gr.Progress | None,
) -> Iterator[tuple[Any, ...]]:
    """One method's map for one target as the explanation panel shows it: first the overlay and the raw map as soon
    as the map exists, then everything (overlay, badge, report, files, receipt) once it is scored.
    """
    loaded = model(model_id, revision)  # outside the GPU function: loads once, then from memory
    shown: tuple[str, str] | None = None
    for view, step in gpu.explain(
        model_id, revision, require_image(image), {method: options}, target, direction, progress_for(progress)
    ):
        (explanation,) = step.explanations
        if shown is None:  # the overlay is encoded once, fast, and sent again with the scorecard
            overlay = outputs.save_png(picture(loaded, view, explanation), f"{method}-overlay", compress_level=1)
            shown = overlay, outputs.save_npy(explanation.heatmap, method)
        if not step.scored:
            yield shown[0], SCORING, "", shown[1], None, None
            continue
        (scored,) = step.scored
        rec = plain(scored.receipt)
        _remember_legend(rec, legend(loaded, explanation))
        yield (
            shown[0],
            badge(scored),
            report.report(rec),
            shown[1],
            outputs.save_receipt(rec, f"{method}-{view.sha256[:8]}"),
            rec,
        )


def legend(loaded: xai.LoadedModel, explanation: xai.Explanation) -> str:
    """The overlay's colour scale as HTML beside the picture: the bar's ends and what the colours mean, in the
    target's unit, and how the map was made readable (display.display_map: what the picture shows).
    """
    shown = display.display_map(explanation, task=loaded.task)
    return display.legend_html(shown.scale, signed=shown.signed, unit=shown.label, note=shown.caption)


def _remember_legend(receipt: dict[str, Any], html: str) -> None:
    with _legends_lock:
        _legends[str(receipt.get("heatmap_sha256"))] = html
        while len(_legends) > KEPT_LEGENDS:
            _legends.popitem(last=False)


def on_legend(receipt: dict[str, Any] | None) -> str:
    """The legend of the map whose receipt the panel shows (the private event after each run)."""
    if not isinstance(receipt, dict):
        return ""
    with _legends_lock:
        return _legends.get(str(receipt.get("heatmap_sha256")), "")


def estimate(method: str, model_id: str, revision: str, options: dict[str, Any]) -> str:
    """What the job will cost, in words, from the measured time of one forward of the model on this device."""
    loaded = model(model_id, revision)
    forward_s = cost.forward_seconds(loaded)
    cuda = loaded.device.type == "cuda"
    seconds = cost.forwards(method, options, loaded.input_size, cuda=cuda) * forward_s
    where = f"this {'GPU' if cuda else 'CPU'} (one forward: {1000 * forward_s:.0f} ms)"
    if seconds < LONG_S:
        return f"⏱ about {_duration(seconds)} on {where}"
    return f"⚠️ **Long job: about {_duration(seconds)}** on {where}. **Stop** ends it at its next step."


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def wire(
    inputs: Inputs,
    handler: Callable[..., Any],
    controls: list[Any],
    *,
    method: str,
    button: str,
    options: Callable[..., dict[str, Any]],
) -> None:
    """Lay out the tab's button, Stop, cost estimate and explanation panel (below its controls).

    The button runs ``handler``; the panel is cleared when it starts (progress shows on the picture only), and the
    estimate follows the controls and the model.

    Args:
        handler: the tab's ``on_<method>``, taking the explanation inputs and then ``controls``.
        controls: the tab's option components, in ``handler``'s order.
        method: the registry name, which is also the endpoint's api_name.
        button: the button's text.
        options: the controls' values -> the method's options (the same parsing as ``handler``).
    """
    with gr.Row(equal_height=True):
        run_button = gr.Button(button, variant="primary", scale=4)
        stop_button = gr.Button("Stop", variant="stop", scale=1, min_width=80)
    cost_line = gr.Markdown()
    panel, legend_box = explanation_panel()
    shown = [*panel, legend_box]
    private: dict[str, Any] = {"api_visibility": "private", "queue": False, "show_progress": "hidden"}
    run_button.click(lambda: blank(shown), None, shown, **private)
    run = run_button.click(
        handler, [*inputs.explain, *controls], panel, api_name=method, show_progress_on=panel[0], **gpu.queue()
    )
    run.success(on_legend, [panel[5]], legend_box, **private)
    stop_button.click(lambda: blank(shown, STOPPED), None, shown, cancels=[run], **private)
    show_results(inputs, run, shown)

    def on_estimate(model_id: str, revision: str, *values: Any) -> str:
        try:
            return estimate(method, model_id, revision, options(*values))
        except xai.ExplainerError as exc:  # shown where the estimate would be; running the job reports it too
            return f"⏱ no estimate: {exc}"

    gr.on(
        [inputs.model_info.change, *(control.change for control in controls)],
        on_estimate,
        [inputs.model_id, inputs.revision, *controls],
        cost_line,
        **private,
    )
