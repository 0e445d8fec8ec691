"""Preprocessing from timm's data config of the loaded model, and where the model's view sits in the upload."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from PIL import Image
from timm.data import create_transform

from ..types import LoadedModel, PreparedImage
from .images import image_sha256, load_image


@lru_cache(maxsize=16)
def _transform(key: tuple[tuple[str, Any], ...]) -> Any:
    return create_transform(**dict(key), is_training=False)


def _config_key(data_config: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in data_config.items()))


def eval_transform(model: LoadedModel) -> Any:
    """Timm's eval transform for this model (resize, crop, to tensor, normalise), built once per config."""
    return _transform(_config_key(model.data_config))


def prepare_image(model: LoadedModel, source: Any) -> PreparedImage:
    """Load an upload and turn it into exactly what the model sees.

    Args:
        model: the model whose data config decides size, crop, interpolation, mean and std.
        source: anything images.load_image accepts (path, bytes, PIL image, array).

    Raises:
        ImageError: the upload is not a usable image.
    """
    pil = load_image(source)
    return prepare_pil(model, pil, sha256=image_sha256(source))


def prepare_pil(model: LoadedModel, pil: Image.Image, *, sha256: str = "") -> PreparedImage:
    """Like prepare_image, for an already decoded RGB picture."""
    image = eval_transform(model)(pil).unsqueeze(0)
    mean = torch.tensor(model.data_config["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(model.data_config["std"]).view(1, 3, 1, 1)
    pixels = (image * std + mean).clamp(0, 1)
    rgb = np.asarray(pil, dtype=np.uint8)
    if not sha256:
        import hashlib

        sha256 = hashlib.sha256(rgb.tobytes()).hexdigest()
    return PreparedImage(
        rgb=rgb,
        image=image.to(model.device),
        pixels=pixels.float(),
        crop_box=crop_box(model.data_config, pil.width, pil.height),
        sha256=sha256,
    )


def normalise(model: LoadedModel, pixels: torch.Tensor) -> torch.Tensor:
    """[0, 1] pixels (N, 3, h, w) -> the model's normalised input, differentiable."""
    mean = torch.tensor(model.data_config["mean"], device=pixels.device, dtype=pixels.dtype).view(1, 3, 1, 1)
    std = torch.tensor(model.data_config["std"], device=pixels.device, dtype=pixels.dtype).view(1, 3, 1, 1)
    return (pixels - mean) / std


def crop_box(data_config: dict[str, Any], width: int, height: int) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of the model's view in original pixel coordinates.

    Mirrors timm.data.transforms_imagenet_eval: resize (shortest edge to size / crop_pct, or squash), then centre
    crop. 'border' mode pads instead of cropping, so its box may extend past the picture.
    """
    _, out_h, out_w = data_config["input_size"]
    crop_pct = data_config.get("crop_pct") or 0.875
    mode = data_config.get("crop_mode") or "center"
    scale_h, scale_w = math.floor(out_h / crop_pct), math.floor(out_w / crop_pct)
    if mode == "squash":
        new_w, new_h = scale_w, scale_h
    elif mode == "border":
        ratio = min(scale_h / height, scale_w / width)
        new_w, new_h = round(width * ratio), round(height * ratio)
    elif scale_h == scale_w:  # torchvision Resize(int): shortest edge to the size, the other truncated
        short, long_ = (width, height) if width <= height else (height, width)
        new_short, new_long = scale_h, int(scale_h * long_ / short)
        new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    else:  # ResizeKeepRatio: the edge that needs the smaller scale decides
        ratio = max(scale_h / height, scale_w / width)
        new_w, new_h = round(width * ratio), round(height * ratio)
    # torchvision CenterCrop: offsets int(round((size - crop) / 2)).
    top = round((new_h - out_h) / 2.0)
    left = round((new_w - out_w) / 2.0)
    sx, sy = width / new_w, height / new_h
    return (left * sx, top * sy, (left + out_w) * sx, (top + out_h) * sy)
