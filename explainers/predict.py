"""Prediction: one forward pass, the task's decision rule, a typed result."""

from __future__ import annotations

import torch

from .tasks import TOP_K, decide
from .types import LoadedModel, Prediction, PreparedImage


def model_outputs(loaded: LoadedModel, image: torch.Tensor) -> torch.Tensor:
    """Raw outputs (N, K) of the model for normalised images, without autograd."""
    with torch.no_grad():
        return loaded.model(image.to(loaded.device)).float()


def predict(loaded: LoadedModel, prepared: PreparedImage, *, top_k: int = TOP_K) -> Prediction:
    """What the model says about one prepared image (top-k classes, labels with decision, or values with units)."""
    outputs = model_outputs(loaded, prepared.image)[0].cpu().numpy()
    return decide(loaded.task, outputs, top_k=top_k)
