"""What the scorecard reuses across calls on one (model, image): the random-order reference and randomised models.

Petsiuk et al.'s random-order curves and the reference image's score depend on the model, the image, the reference
kind, the steps, the grid and the seed, never on the map or the target, so every method and target of one photo
shares them; Adebayo et al.'s re-initialised copies depend only on the model and the seed. Both are kept in bounded
memos (explainers.cache) that belong to the model object and go with it: a model is known by identity, not by its
weights' sha256, since two modules with the same weights can compute different things (hand-made test models do).
Images are known by content.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any

import torch

from ..cache import Memo, digest, nbytes
from ..types import LoadedModel

MB = 1 << 20
# Per (image, reference): K outputs for 1 + 2 (steps - 1) images, ~0.1 MB for 1000 classes at 8 steps.
CURVES_BYTES = int(os.environ.get("XAI_REFERENCE_CACHE_MB", "32")) * MB
CURVES_ENTRIES = 128
# One copy per seed: the Grad-CAM check draws three. Kept only for models on the CPU, where a deep copy costs as much
# as a few forward passes; models over the bound are copied afresh each time.
RANDOMISED_BYTES = int(os.environ.get("XAI_RANDOMISED_CACHE_MB", "256")) * MB
RANDOMISED_ENTRIES = 4

_memos: weakref.WeakKeyDictionary[torch.nn.Module, tuple[Memo[Any], Memo[LoadedModel]]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def memos(model: LoadedModel) -> tuple[Memo[Any], Memo[LoadedModel]]:
    """The model's memos: (shared curves, randomised copies); created on first use, gone with the model."""
    with _lock:
        found = _memos.get(model.model)
        if found is None:
            found = (
                Memo(max_bytes=CURVES_BYTES, max_entries=CURVES_ENTRIES, size=nbytes),
                Memo(max_bytes=RANDOMISED_BYTES, max_entries=RANDOMISED_ENTRIES, size=_model_bytes),
            )
            _memos[model.model] = found
        return found


def shared_curves(model: LoadedModel, image: torch.Tensor, compute: Callable[[], Any], **options: Any) -> Any:
    """``compute()``, or what it gave before for this image (by content) and these options, on this model."""
    key: Hashable = (str(image.device), digest(image), tuple(sorted(options.items())))
    return memos(model)[0].get(key, compute)


def randomised(model: LoadedModel, seed: int, make: Callable[[], LoadedModel]) -> LoadedModel:
    """``make()``, the copy of ``model`` re-initialised with ``seed``, kept for the next call when on the CPU."""
    if model.device.type != "cpu":
        return make()
    return memos(model)[1].get(int(seed), make)


def _model_bytes(model: LoadedModel) -> int:
    return nbytes([*model.model.parameters(), *model.model.buffers()])
