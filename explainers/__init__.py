"""Explain what timm image models predict: loading, prediction, attribution methods, counterfactuals and trust.

The package root is light: it imports no torch, timm or captum. The names below load their module on first use
(PEP 562), so ``import explainers.trust.report`` or ``explainers.OptionError`` cost milliseconds.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    BusyError,
    CancelledError,
    ConfigError,
    CorrectionError,
    ExplainerError,
    GalleryError,
    HubUnavailableError,
    ImageError,
    LayerError,
    ModelSourceError,
    OptionError,
    TargetError,
    UnsafeWeightsError,
)

if TYPE_CHECKING:
    from .models.loading import load_model
    from .models.predict import predict
    from .models.preprocess import prepare_image
    from .models.sources import parse_source
    from .targets import resolve_target
    from .types import (
        Counterfactual,
        ExplainFn,
        Explanation,
        LoadedModel,
        ModelSource,
        Prediction,
        PreparedImage,
        Target,
        TaskInfo,
    )

# public name -> module that defines it
_LAZY = {
    "load_model": "models.loading",
    "parse_source": "models.sources",
    "predict": "models.predict",
    "prepare_image": "models.preprocess",
    "resolve_target": "targets",
    **{
        name: "types"
        for name in (
            "Counterfactual",
            "ExplainFn",
            "Explanation",
            "LoadedModel",
            "ModelSource",
            "Prediction",
            "PreparedImage",
            "Target",
            "TaskInfo",
        )
    },
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BusyError",
    "CancelledError",
    "ConfigError",
    "CorrectionError",
    "Counterfactual",
    "ExplainFn",
    "ExplainerError",
    "Explanation",
    "GalleryError",
    "HubUnavailableError",
    "ImageError",
    "LayerError",
    "LoadedModel",
    "ModelSource",
    "ModelSourceError",
    "OptionError",
    "Prediction",
    "PreparedImage",
    "Target",
    "TargetError",
    "TaskInfo",
    "UnsafeWeightsError",
    "load_model",
    "parse_source",
    "predict",
    "prepare_image",
    "resolve_target",
]
