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
    variant: str = "gradcam",
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:
    """Grad-CAM or one of its variants on the model's final feature map (or a chosen stage).

    Args:
        image: the photo to explain.
        model_id: "default" (the startup model) or a Hub repo id.
        revision: branch, tag or commit sha of the Hub repo (blank for the default branch).
        target: a class / label / output name, an index, "top-1", or "A vs B" (why A rather than B).
        direction: "raises" or "lowers" the target.
        layer: a layer key from /load_model's list (blank = the recommended one; attention takes none).
        variant: gradcam, hirescam, gradcam++, layercam, eigencam, or attention (rollout, for ViT-style models).

    Returns:
        Overlay PNG, badge, report, raw map .npy, receipt file, receipt JSON.
    """
    options = {"layer": layer or None, "variant": variant or "gradcam"}
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
        variant = gr.Radio(
            [(label, name) for name, label in registry.GRADCAM_VARIANTS.items()],
            value=registry.METHODS[METHOD].defaults.get("variant", "gradcam"),
            label="Variant",
            info="HiResCAM is exact for average-pooled heads; attention rollout is for ViT-style models",
        )
        explanation.wire(inputs, on_gradcam, [layer, variant], method=METHOD, button="Explain with Grad-CAM")
    return layer
