"""The trip an edit takes through an upload: drawn onto the picture at its size, saved as 8-bit, read back by the
model's own resize and crop.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from ..models.predict import model_outputs
from ..models.preprocess import prepare_pil
from ..types import LoadedModel, PreparedImage

_SIMULATE_UP_TO = 2.0  # see simulator


def eight_bit(x: torch.Tensor) -> torch.Tensor:
    """Round [0, 1] pixels to the 256 levels a saved PNG keeps."""
    return (x * 255).round() / 255


def simulator(model: LoadedModel, prepared: PreparedImage) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """What the trip through the upload does to an edit of the view: (N, 3, h, w) -> same, differentiable.

    render() draws the edit onto the upload at the crop box's size, and the model's own transform resizes it back: a
    blur (a loss of detail when the box is smaller than the view) that an edit must survive. It is modelled at the
    box's size up to twice the view's (the blur hardly changes beyond); None when the trip is exact.
    """
    h, w = model.input_size
    left, top, right, bottom = prepared.crop_box
    box_w, box_h = right - left, bottom - top
    if (box_w, box_h) == (w, h) and float(left).is_integer() and float(top).is_integer():
        return None
    size = (max(1, round(h * min(box_h / h, _SIMULATE_UP_TO))), max(1, round(w * min(box_w / w, _SIMULATE_UP_TO))))
    mode = {"bicubic": "bicubic", "nearest": "nearest"}.get(str(model.data_config.get("interpolation")), "bilinear")
    smooth = mode != "nearest"

    def simulate(edit: torch.Tensor) -> torch.Tensor:
        drawn = torch.nn.functional.interpolate(edit, size=size, mode="bilinear", align_corners=False, antialias=True)
        return torch.nn.functional.interpolate(
            drawn, size=(h, w), mode=mode, antialias=smooth, align_corners=False if smooth else None
        )

    return simulate


def round_trip(
    model: LoadedModel, prepared: PreparedImage, change: torch.Tensor
) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """Render the change onto the upload and read it back like any upload: (rgb, raw outputs (1, K), view (3, h, w))."""
    rgb = render(prepared, change.cpu())
    again = prepare_pil(model, Image.fromarray(rgb), sha256="counterfactual")
    return rgb, model_outputs(model, again.image), eight_bit(again.pixels[0].to(change.device))


def render(prepared: PreparedImage, change: torch.Tensor | np.ndarray) -> np.ndarray:
    """Map a change of the model's view onto the original picture: uint8 (H, W, 3), unchanged outside the crop box.

    Args:
        prepared: the upload and where the model's view sits in it.
        change: (3, h, w) change of the view in [0, 1] units (or (h, w, 3) as a numpy array).
    """
    d = torch.as_tensor(change, dtype=torch.float32)
    if d.shape[0] != 3:
        d = d.permute(2, 0, 1)
    d = d[None].cpu()
    rgb = prepared.rgb
    height, width = rgb.shape[:2]
    left, top, right, bottom = prepared.crop_box
    x_lo, x_hi = max(0, math.floor(left)), min(width, math.ceil(right))
    y_lo, y_hi = max(0, math.floor(top)), min(height, math.ceil(bottom))
    if x_hi <= x_lo or y_hi <= y_lo:
        return rgb.copy()
    box_w, box_h = right - left, bottom - top
    if box_h < d.shape[-2] or box_w < d.shape[-1]:  # shrinking: average first so no view pixel is skipped
        size = (max(1, math.ceil(box_h)), max(1, math.ceil(box_w)))
        d = torch.nn.functional.interpolate(d, size=size, mode="bilinear", antialias=True, align_corners=False)
    # Original pixel centres in the box's normalised coordinates (-1..1 spans the box's outer edges).
    gx = (torch.arange(x_lo, x_hi, dtype=torch.float32) + 0.5 - left) / box_w * 2 - 1
    gy = (torch.arange(y_lo, y_hi, dtype=torch.float32) + 0.5 - top) / box_h * 2 - 1
    yy, xx = torch.meshgrid(gy, gx, indexing="ij")
    grid = torch.stack([xx, yy], dim=-1)[None]
    up = torch.nn.functional.grid_sample(d, grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
    up = up * ((xx.abs() < 1) & (yy.abs() < 1)).float()
    out = rgb.copy()
    region = out[y_lo:y_hi, x_lo:x_hi].astype(np.float32) + 255 * up.permute(1, 2, 0).numpy()
    out[y_lo:y_hi, x_lo:x_hi] = np.clip(np.rint(region), 0, 255).astype(np.uint8)
    return out
