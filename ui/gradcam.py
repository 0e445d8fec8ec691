"""The Grad-CAM tab (Selvaraju et al., 2017) and its endpoint, /gradcam."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr

from explainers import registry

from . import explanation
from .common import endpoint
from .components import Inputs, OpenDropdown

METHOD = "gradcam"


@endpoint(METHOD, returns=explanation.RETURNS, about=explanation.STREAMS)
def on_gradcam(
    image: Any,
    model_id: str,
    revision: str,
    target: str,
    direction: str,
    layer: str,
    variant: str = "gradcam",
    progress: gr.Progress = gr.Progress(),
) -> Iterator[tuple[Any, ...]]:
    """Grad-CAM (Selvaraju et al., 2017) or a variant: where the model's feature map holds evidence for the target.

    Args:
        layer: a Grad-CAM layer key from /load_model's choices; blank for the final feature map (attention takes
            none).
        variant: gradcam, hirescam, gradcam++, layercam, eigencam, or attention (gradient-weighted attention
            rollout, for ViT-style models).
    """
    options = _options(layer, variant)
    yield from explanation.run(METHOD, image, model_id, revision, target, direction, options, progress)


def _options(layer: str, variant: str) -> dict[str, Any]:
    return {"layer": layer or None, "variant": variant or "gradcam"}


def build(inputs: Inputs) -> gr.Dropdown:
    """The Grad-CAM tab; returns its layer choice, which loading a model fills."""
    with gr.Tab(registry.label(METHOD)):
        layer = OpenDropdown(
            choices=[],
            value=registry.METHODS[METHOD].defaults["layer"],
            label="Layer",
            allow_custom_value=True,
            info="derived from timm's feature_info; the first is the recommended one",
        )
        variant = gr.Radio(
            [(label, name) for name, label in registry.GRADCAM_VARIANTS.items()],
            value=registry.METHODS[METHOD].defaults.get("variant", "gradcam"),
            label="Variant",
            info="HiResCAM is exact for average-pooled heads; attention rollout is for ViT-style models",
        )
        explanation.wire(
            inputs, on_gradcam, [layer, variant], method=METHOD, button="Explain with Grad-CAM", options=_options
        )
    return layer
