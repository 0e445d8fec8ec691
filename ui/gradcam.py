"""The Grad-CAM tab (Selvaraju et al., 2017) and its endpoint, /gradcam."""

from __future__ import annotations

from typing import Any

import gradio as gr

from explainers import registry

from . import explanation
from .common import user_errors
from .components import Inputs

METHOD = "gradcam"


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
    return explanation.run(METHOD, image, model_id, revision, target, direction, options, progress)


def build(inputs: Inputs) -> gr.Dropdown:
    """The Grad-CAM tab; returns its layer choice, which loading a model fills."""
    with gr.Tab(registry.label(METHOD)):
        layer = gr.Dropdown(
            choices=[],
            value=registry.METHODS[METHOD].defaults["layer"],
            label="Layer",
            allow_custom_value=True,
            info="derived from timm's feature_info; the first is the recommended one",
        )
        explanation.wire(inputs, on_gradcam, [layer], method=METHOD, button="Explain with Grad-CAM")
    return layer
