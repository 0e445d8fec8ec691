"""Errors raised by the explainers package: each says what was expected, what was found, and the fix."""

from __future__ import annotations


class ExplainerError(Exception):
    """Base of every error a user can act on; app.py turns these (and only these) into gr.Error."""


class ImageError(ExplainerError, ValueError):
    """The upload is not a usable image (corrupt, empty, too large, not an image at all)."""


class ModelSourceError(ExplainerError, ValueError):
    """The model source cannot be used: bad repo id, missing repo/revision/file, unknown architecture."""


class UnsafeWeightsError(ModelSourceError):
    """The repo only offers pickle weights (.bin/.pth/.pt); only safetensors are ever loaded."""


class ConfigError(ModelSourceError):
    """config.json is missing a field or has one of the wrong shape (task metadata, labels, thresholds)."""


class LayerError(ExplainerError, ValueError):
    """The model's features at a layer cannot be laid out on an image grid, so Grad-CAM cannot map them."""


class HubUnavailableError(ExplainerError, RuntimeError):
    """The Hub cannot be reached and the model is not in the local cache."""


class TargetError(ExplainerError, ValueError):
    """The requested target (class, label, regression output) does not exist for this model."""


class OptionError(ExplainerError, ValueError):
    """A method option is out of range (window, stride, n_steps, thresholds, ...)."""


class GalleryError(ExplainerError, ValueError):
    """A reference gallery cannot be built or used: no labelled images, corrupt files, or made for other weights."""


class CorrectionError(ExplainerError, ValueError):
    """A visitor's correction cannot be stored: an answer the model's task does not allow, no image, a full store."""


class BusyError(ExplainerError, RuntimeError):
    """The server is at capacity; try again in a moment."""


class CancelledError(ExplainerError, RuntimeError):
    """The request was abandoned (the visitor left) and the job stopped early."""
