"""Explain what timm image models predict: loading, prediction and one module per attribution method."""

from . import gradcam, integrated_gradients, occlusion
from .errors import (
    BusyError,
    CancelledError,
    ConfigError,
    ExplainerError,
    HubUnavailableError,
    ImageError,
    LayerError,
    ModelSourceError,
    OptionError,
    TargetError,
    UnsafeWeightsError,
)
from .loading import load_model, parse_source
from .predict import predict
from .preprocess import prepare_image
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

# name -> explain(model, image, *, target=None, **options); app tabs, the API and replay all go through it.
EXPLAINERS: dict[str, ExplainFn] = {
    "gradcam": gradcam.explain,
    "occlusion": occlusion.explain,
    "integrated_gradients": integrated_gradients.explain,
}

__all__ = [
    "EXPLAINERS",
    "BusyError",
    "CancelledError",
    "ConfigError",
    "Counterfactual",
    "ExplainerError",
    "Explanation",
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
