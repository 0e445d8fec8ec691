"""What the single-method tabs share (Grad-CAM, occlusion, integrated gradients): one map, six outputs, streamed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from explainers.trust import report

from . import gpu, outputs
from .common import badge, model, picture, plain, require_image
from .components import Inputs, explanation_panel
from .jobs import progress_for

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
        yield (
            shown[0],
            badge(scored),
            report.report(rec),
            shown[1],
            outputs.save_receipt(rec, f"{method}-{view.sha256[:8]}"),
            rec,
        )


def wire(inputs: Inputs, handler: Callable[..., Any], controls: list[Any], *, method: str, button: str) -> None:
    """Lay out the tab's button and explanation panel (below its controls); the button runs ``handler``.

    Args:
        handler: the tab's ``on_<method>``, taking the explanation inputs and then ``controls``.
        method: the registry name, which is also the endpoint's api_name.
        button: the button's text.
    """
    run_button = gr.Button(button, variant="primary")
    panel = explanation_panel()
    run_button.click(handler, [*inputs.explain, *controls], panel, api_name=method, **gpu.queue())
