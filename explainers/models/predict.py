"""Prediction: one forward pass, the task's decision rule, a typed result; one forward per (model, image), cached."""

from __future__ import annotations

import os
from typing import Any

import torch

from ..cache import Memo, nbytes
from ..types import LoadedModel, Prediction, PreparedImage
from .images import image_sha256
from .preprocess import prepare_image
from .tasks import TOP_K, decide

PREPARED_CACHE_SIZE = 16
# Uploads up to 40 megapixels keep their RGB (120 MB at most) for rendering, so the bound is in bytes as well.
PREPARED_CACHE_BYTES = int(os.environ.get("XAI_PREPARED_CACHE_MB", "512")) << 20

_prepared: Memo[tuple[PreparedImage, Prediction]] = Memo(
    max_bytes=PREPARED_CACHE_BYTES, max_entries=PREPARED_CACHE_SIZE, size=nbytes
)


def model_outputs(model: LoadedModel, image: torch.Tensor) -> torch.Tensor:
    """Raw outputs (N, K) of the model for normalised images, without autograd."""
    with torch.no_grad():
        return model.model(image.to(model.device)).float()


def predict(model: LoadedModel, prepared: PreparedImage, *, top_k: int = TOP_K) -> Prediction:
    """What the model says about one prepared image (top-k classes, labels with decision, or values with units)."""
    outputs = model_outputs(model, prepared.image)[0].cpu().numpy()
    return decide(model.task, outputs, top_k=top_k)


def prepare(model: LoadedModel, image: Any) -> tuple[PreparedImage, Prediction]:
    """Decode and preprocess an upload, then predict on it: one forward per (model, image), cached.

    Switching tab, method or target reuses the cached view and prediction instead of decoding and predicting again.
    Methods never modify the prepared tensors in place, so the cached entry can be shared across threads.
    """
    key = (model.source, model.weights_sha256, image_sha256(image))

    def compute() -> tuple[PreparedImage, Prediction]:
        prepared = prepare_image(model, image)
        return prepared, predict(model, prepared)

    return _prepared.get(key, compute)


def cache_stats() -> dict[str, int]:
    """Hits and misses (and entries, bytes) of the per-(model, image) cache, for tests and the benchmark."""
    return _prepared.stats()
