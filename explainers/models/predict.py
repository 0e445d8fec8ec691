"""Prediction: one forward pass, the task's decision rule, a typed result; one forward per (model, image), cached."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import torch

from ..types import LoadedModel, ModelSource, Prediction, PreparedImage
from .images import image_sha256
from .preprocess import prepare_image
from .tasks import TOP_K, decide

PREPARED_CACHE_SIZE = 16

_prepared: OrderedDict[tuple[ModelSource, str, str], tuple[PreparedImage, Prediction]] = OrderedDict()
_prepared_lock = threading.Lock()
_stats = {"hits": 0, "misses": 0}


def model_outputs(loaded: LoadedModel, image: torch.Tensor) -> torch.Tensor:
    """Raw outputs (N, K) of the model for normalised images, without autograd."""
    with torch.no_grad():
        return loaded.model(image.to(loaded.device)).float()


def predict(loaded: LoadedModel, prepared: PreparedImage, *, top_k: int = TOP_K) -> Prediction:
    """What the model says about one prepared image (top-k classes, labels with decision, or values with units)."""
    outputs = model_outputs(loaded, prepared.image)[0].cpu().numpy()
    return decide(loaded.task, outputs, top_k=top_k)


def prepare(loaded: LoadedModel, image: Any) -> tuple[PreparedImage, Prediction]:
    """Decode and preprocess an upload, then predict on it: one forward per (model, image), cached.

    Switching tab, method or target reuses the cached view and prediction instead of decoding and predicting again.
    Methods never modify the prepared tensors in place, so the cached entry can be shared across threads.
    """
    key = (loaded.source, loaded.weights_sha256, image_sha256(image))
    with _prepared_lock:
        if key in _prepared:
            _prepared.move_to_end(key)
            _stats["hits"] += 1
            return _prepared[key]
    prepared = prepare_image(loaded, image)
    entry = (prepared, predict(loaded, prepared))
    with _prepared_lock:
        _stats["misses"] += 1
        _prepared[key] = entry
        while len(_prepared) > PREPARED_CACHE_SIZE:
            _prepared.popitem(last=False)
    return entry


def cache_stats() -> dict[str, int]:
    """Hits and misses of the per-(model, image) cache, for tests and the benchmark."""
    with _prepared_lock:
        return dict(_stats)
