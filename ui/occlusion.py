"""The occlusion sensitivity tab (Zeiler & Fergus, 2014) and its endpoint, /occlusion."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr

from explainers import registry
from explainers.methods import occlusion
from explainers.options import parse_number

from . import explanation
from .common import endpoint
from .components import Inputs

METHOD = "occlusion"
FILLS = list(occlusion.BASELINES)
MODES = ["auto", "coarse_to_fine", "dense"]
AUTO = 0  # a window or stride of 0 (or none) = the method's default fraction of the model's input side


@endpoint(METHOD, returns=explanation.RETURNS, about=explanation.STREAMS)
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
) -> Iterator[tuple[Any, ...]]:
    """Occlusion sensitivity (Zeiler & Fergus, 2014): how much the target drops when each window is hidden.

    Args:
        window: side of the hidden square in model-input pixels (4 to 112); 0 = 1/7 of the input's shorter side.
        stride: step between windows in pixels, at most the window (2 to 56); 0 = 1/14 of the shorter side.
        baselines: what hides a window: 'zero', 'mean' or 'blur'.
        mode: 'dense' (every window), 'coarse_to_fine' (4x fewer forwards) or 'auto' (dense on a GPU only).
    """
    options = _options(window, stride, baselines, mode)
    yield from explanation.run(METHOD, image, model_id, revision, target, direction, options, progress)


def _options(window: float, stride: float, baselines: str, mode: str) -> dict[str, Any]:
    return {
        "window": _pixels(window, "window"),
        "stride": _pixels(stride, "stride"),
        "baselines": baselines,
        "mode": mode,
    }


def _pixels(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    number = parse_number(value, name, integer=True)
    return None if number == AUTO else int(number)


def build(inputs: Inputs) -> None:
    """The occlusion tab: window, stride, fill and mode, then the explanation panel."""
    defaults = registry.METHODS[METHOD].defaults
    with gr.Tab(registry.label(METHOD)):
        with gr.Row():
            window = gr.Slider(
                AUTO, 112, value=defaults["window"] or AUTO, step=4, label="Window (px, 0 = 1/7 of the input side)"
            )
            stride = gr.Slider(
                AUTO, 56, value=defaults["stride"] or AUTO, step=2, label="Stride (px, 0 = 1/14 of the input side)"
            )
        with gr.Row():
            fill = gr.Radio(FILLS, value=defaults["baselines"], label="Fill")
            mode = gr.Radio(
                MODES,
                value=defaults["mode"],
                label="Mode",
                info="auto: dense on a GPU, coarse-to-fine (4x fewer forwards) on a CPU",
            )
        controls = [window, stride, fill, mode]
        explanation.wire(
            inputs, on_occlusion, controls, method=METHOD, button="Explain with occlusion", options=_options
        )
