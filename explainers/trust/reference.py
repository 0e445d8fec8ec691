"""What the scorecard reuses across calls on one (model, image): the random-order reference and randomised models.

Petsiuk et al.'s random-order curves and the reference image's score depend on the model, the image, the reference
kind, the steps, the grid and the seed, never on the map or the target, so every method and target of one photo
shares them; Adebayo et al.'s re-initialised copies depend only on the model and the seed. Both are kept in bounded,
content-keyed memos (explainers.cache).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from typing import Any

import torch

from ..cache import Memo, digest, nbytes
from ..types import LoadedModel

MB = 1 << 20
# Per (model, image, reference): K outputs for 1 + 2 (steps - 1) images, ~0.1 MB for 1000 classes at 8 steps.
SHARED_CURVES: Memo[Any] = Memo(
    max_bytes=int(os.environ.get("XAI_REFERENCE_CACHE_MB", "64")) * MB, max_entries=256, size=nbytes
)
# One copy per (model, seed): the scorecard's Grad-CAM check draws three. Kept only for models on the CPU, where a
# deep copy costs as much as a few forward passes; large models (over the bound) are copied afresh each time.
RANDOMISED: Memo[LoadedModel] = Memo(
    max_bytes=int(os.environ.get("XAI_RANDOMISED_CACHE_MB", "256")) * MB,
    max_entries=8,
    size=lambda m: nbytes([*m.model.parameters(), *m.model.buffers()]),
)


def model_key(model: LoadedModel) -> tuple[Hashable, ...]:
    """What identifies a model's outputs: its source, its weights and its device."""
    return (model.source, model.weights_sha256, str(model.device))


def curves_key(model: LoadedModel, image: torch.Tensor, **options: Any) -> tuple[Hashable, ...]:
    """The key of the shared curves of ``image`` (by content) under ``options`` (reference kind, steps, grid, seed)."""
    return (*model_key(model), digest(image), tuple(sorted(options.items())))


def randomised(model: LoadedModel, seed: int, make: Callable[[], LoadedModel]) -> LoadedModel:
    """``make()``, the copy of ``model`` re-initialised with ``seed``, kept for the next call when on the CPU."""
    if model.device.type != "cpu":
        return make()
    return RANDOMISED.get(("randomised", *model_key(model), int(seed)), make)
