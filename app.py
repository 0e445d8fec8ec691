"""Gradio Space: what a timm image model predicts and why (Grad-CAM, occlusion, IG, counterfactuals)."""

from __future__ import annotations

import os

# Quiet and offline-friendly by default; huggingface_hub and gradio read these at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import spaces  # noqa: F401, I001 - ZeroGPU needs spaces imported before anything touches CUDA

import argparse
import logging

import gradio as gr

import explainers as xai
from explainers.models import images
from ui import (
    batch,
    common,
    compare,
    components,
    corrections,
    counterfactual,
    gpu,
    gradcam,
    i18n,
    integrated_gradients,
    occlusion,
    predict,
    reproduce,
    similar,
)

log = logging.getLogger("app")

QUEUE_SIZE = int(os.environ.get("XAI_QUEUE_SIZE", "32"))
CACHE_TTL_S = 3600  # Gradio's cached uploads and outputs older than an hour are deleted every hour


def build_demo() -> gr.Blocks:
    """The Blocks UI; every public event has a stable api_name."""
    with gr.Blocks(title="Explain any timm image model", delete_cache=(CACHE_TTL_S, CACHE_TTL_S)) as demo:
        gr.Markdown(
            elem_id="xai-title",
            value="# Explain any timm image model\nDrop in a photo, pick a model (the built-in EfficientNet-Lite0 "
            "or any timm repo on the Hub with safetensors weights) and see what it predicts and why.",
        )
        with gr.Row(elem_id="xai-main"):
            with gr.Column(scale=1, elem_id="xai-inputs"):
                inputs = components.inputs()
            with gr.Column(scale=2, elem_id="xai-tabs"), gr.Tabs(overflow_behavior="wrap"):
                prediction = predict.build(inputs)
                layer = gradcam.build(inputs)
                occlusion.build(inputs)
                integrated_gradients.build(inputs)
                counterfactual.build(inputs)
                compare.build(inputs)
                similar.build(inputs)
                batch.build(inputs)
                reproduce.build(inputs)
        predict.wire_loading(demo, inputs, layer, prediction)
    i18n.localise(demo)  # every label, button and text becomes a translation key (ui/locales/es.json)
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=gpu.GPU_CONCURRENCY)
    return demo


def main(argv: list[str] | None = None) -> None:
    """Python app.py [--model PATH_OR_REPO] [--host H] [--port P]."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--model",
        default=os.environ.get("XAI_MODEL"),
        help="startup model: a local folder (config.json + model.safetensors) or owner/name[@rev]",
    )
    parser.add_argument(
        "--gallery",
        default=os.environ.get("XAI_GALLERY"),
        help="a reference gallery (built for the startup model's weights) for the Similar cases tab",
    )
    parser.add_argument(
        "--owner",
        action="store_true",
        default=os.environ.get("XAI_OWNER", "").lower() in ("1", "true", "yes"),
        help="show the owner's corrections status (pending count, last fine-tune); only where visitors cannot reach it",
    )
    parser.add_argument(
        "--retrain-after",
        type=int,
        metavar="N",
        help="fine-tune in the background once N new corrections exist and offer the result to the owner's status "
        "(default: XAI_RETRAIN_AFTER, else off)",
    )
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    source = xai.parse_source(args.model, allow_local=True)
    common.set_startup_source(source)
    source = corrections.start(source, owner=args.owner, retrain_after=args.retrain_after) or source
    loaded = xai.load_model(source)  # once, at start, outside any GPU function
    if args.gallery:
        similar.attach(loaded, args.gallery)  # a refused gallery is logged; the app serves without similar cases
    # mcp_server: every public endpoint is also an MCP tool at /gradio_api/mcp/, described by its docstring.
    build_demo().launch(
        server_name=args.host,
        server_port=args.port,
        show_error=True,
        max_file_size=images.MAX_UPLOAD_BYTES,
        mcp_server=True,
        css=components.PHONE_CSS,
        **i18n.launch_options(),
    )


if __name__ == "__main__":
    main()
