"""The Reproduce tab (/replay): rerun the map a receipt describes and check it against the map that was kept."""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np

import explainers as xai
from explainers.trust import receipt

from . import gpu, outputs
from .common import endpoint, require_image
from .components import Inputs, show_results


@endpoint(
    "replay",
    returns=(
        "map: the replayed raw map, float32 .npy",
        "result: JSON with method, target, heatmap_sha256, bitwise_identical, and with a kept map reproduced and "
        "max_abs_difference",
    ),
)
def on_replay(image: Any, receipt_file: Any, map_file: Any) -> tuple[Any, ...]:
    """Rerun the map a receipt describes on the same photo and check it against the map that was kept.

    Args:
        image: the very photo the receipt was made from (its sha256 is checked).
        receipt_file: the receipt JSON an explanation endpoint returned.
        map_file: optional: the .npy map that endpoint returned, to compare with the replay.
    """
    if not receipt_file:
        raise xai.OptionError("no receipt was given: upload the receipt JSON a tab or endpoint returned")
    data = receipt.read_receipt(receipt_file)
    explanation = gpu.replay(data, require_image(image))
    result: dict[str, Any] = {
        "method": explanation.method,
        "target": explanation.target.label,
        "heatmap_sha256": receipt.heatmap_sha256(explanation.heatmap),
        "bitwise_identical": receipt.heatmap_sha256(explanation.heatmap) == data.get("heatmap_sha256"),
    }
    if map_file:
        kept = receipt.read_map(map_file)
        if kept.shape != explanation.heatmap.shape:
            raise xai.OptionError(f"the kept map is {kept.shape}, the replayed one {explanation.heatmap.shape}")
        result["reproduced"] = receipt.same_map(explanation.heatmap, kept)
        result["max_abs_difference"] = float(np.abs(explanation.heatmap - kept).max())
    return outputs.save_npy(explanation.heatmap, f"replay-{explanation.method}"), result


def build(inputs: Inputs) -> None:
    """The Reproduce tab: a receipt and (optionally) the kept map, with the photo from the inputs column."""
    with gr.Tab("Reproduce"):
        gr.Markdown(
            "Upload a receipt (and optionally the `.npy` map you kept) with the same image to "
            "rerun the explanation and check it reproduces."
        )
        with gr.Row():
            receipt_file = gr.File(label="Receipt (.json)", file_types=[".json"], type="filepath")
            map_file = gr.File(label="Kept map (.npy, optional)", file_types=[".npy"], type="filepath")
        run_button = gr.Button("Replay", variant="primary")
        npy = gr.File(label="Replayed map (.npy)")
        result = gr.JSON(label="Replay")
    run = run_button.click(
        on_replay, [inputs.image, receipt_file, map_file], [npy, result], api_name="replay", **gpu.queue()
    )
    show_results(inputs, run, [npy, result])
