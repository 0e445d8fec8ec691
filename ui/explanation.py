"""The shape the single-method tabs share (Grad-CAM, occlusion, integrated gradients): one map, six outputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from explainers.trust import report

from . import gpu, outputs
from .common import badge, model, picture, plain, require_image
from .components import Inputs, explanation_panel
from .jobs import progress_for


def run(
    method: str,
    image: Any,
    model_id: str,
    revision: str,
    target: str,
    direction: str,
    options: dict[str, Any],
    progress: gr.Progress | None,
) -> tuple[Any, ...]:
    """One method's map for one target, as the explanation panel shows it: overlay, badge, report, files, receipt."""
    loaded = model(model_id, revision)  # outside the GPU function: loads once, then from memory
    view, (scored,) = gpu.explain(
        model_id, revision, require_image(image), {method: options}, target, direction, progress_for(progress)
    )
    rec = plain(scored.receipt)
    return (
        picture(loaded, view, scored.explanation),
        badge(scored),
        report.report(rec),
        outputs.save_npy(scored.explanation.heatmap, method),
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
