"""Shared result and model types: frozen dataclasses that every method and the app exchange."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import torch

TaskKind = Literal["multiclass", "multilabel", "regression"]
SourceKind = Literal["default", "hub", "local"]


@dataclass(frozen=True)
class TaskInfo:
    """What the model's outputs mean, read from config.json beside timm's own keys.

    Attributes:
        kind: multiclass (softmax over classes), multilabel (independent sigmoids) or regression.
        names: one name per output: class labels, multi-label labels or regression target names.
        thresholds: multilabel only: per-label decision thresholds on the sigmoid probability.
        abstain: multilabel only: below this best probability (and no label over its threshold) the answer is "none".
        units: regression only: one unit per output ("kcal", "g").
        target_mean: regression only: the z-score mean the head was trained with (outputs are de-normalised with it).
        target_std: regression only: the z-score std.
    """

    kind: TaskKind
    names: tuple[str, ...]
    thresholds: tuple[float, ...] | None = None
    abstain: float | None = None
    units: tuple[str, ...] | None = None
    target_mean: tuple[float, ...] | None = None
    target_std: tuple[float, ...] | None = None

    @property
    def num_outputs(self) -> int:
        """How many outputs the head has."""
        return len(self.names)


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: the built-in default, a Hub repo id (+ revision) or a local folder."""

    kind: SourceKind
    ref: str = ""
    revision: str | None = None

    @property
    def display(self) -> str:
        """The source as a user would type it ("default", "owner/name@rev", a folder)."""
        if self.kind == "default":
            return "default"
        if self.kind == "hub" and self.revision:
            return f"{self.ref}@{self.revision}"
        return self.ref


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A timm model ready to explain: eval mode, frozen parameters, on its device, with preprocessing and task.

    Attributes:
        model: the timm module; shared by all requests, never mutated by a method.
        source: where it came from.
        model_id: the id shown to users and put in receipts ("default", "owner/name", a folder name).
        revision: the resolved 40-hex commit sha for Hub models, None otherwise.
        weights_sha256: sha256 of model.safetensors, the identity of the weights for receipts.
        architecture: timm architecture name.
        data_config: timm's resolved data config (input_size, mean, std, interpolation, crop_pct, crop_mode).
        task: output semantics.
        device: where the model runs.
    """

    model: torch.nn.Module
    source: ModelSource
    model_id: str
    revision: str | None
    weights_sha256: str
    architecture: str
    data_config: dict[str, Any]
    task: TaskInfo
    device: torch.device

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the model input."""
        _, h, w = self.data_config["input_size"]
        return int(h), int(w)


@dataclass(frozen=True)
class PreparedImage:
    """An upload turned into model input, remembering where the model's view sits in the original picture.

    Attributes:
        rgb: the original picture as uint8 (H, W, 3), EXIF orientation applied.
        image: normalised tensor (1, 3, h, w) on the model's device, exactly what timm's eval transform gives.
        pixels: the same view before normalisation, float32 (1, 3, h, w) in [0, 1].
        crop_box: (left, top, right, bottom) of the model's view in original-image pixel coordinates.
        sha256: identity of the uploaded file (or pixels) for receipts.
    """

    rgb: np.ndarray
    image: torch.Tensor
    pixels: torch.Tensor
    crop_box: tuple[float, float, float, float]
    sha256: str


@dataclass(frozen=True)
class Target:
    """One thing to explain: an output index, its name, and whether we explain what raises or lowers it.

    A contrastive target ("why A rather than B") explains output ``index`` minus output ``contrast``: the logit
    difference of two classes or labels (softmax-free: it is the log-odds of A against B), or the difference of two
    regression outputs in the head's raw units.

    Attributes:
        index: the output explained (A).
        name: its name.
        kind: the task kind.
        sign: 1 explains what raises the quantity, -1 what lowers it.
        contrast: the rival output (B) whose value is subtracted; None for a plain target.
        contrast_name: the rival's name.
    """

    index: int
    name: str
    kind: TaskKind
    sign: Literal[1, -1] = 1
    contrast: int | None = None
    contrast_name: str | None = None

    @property
    def direction(self) -> str:
        """The direction as a word: "raises" or "lowers"."""
        return "raises" if self.sign == 1 else "lowers"

    @property
    def label(self) -> str:
        """The target as a user names it: "espresso", or "espresso vs cup" for a contrastive one."""
        return self.name if self.contrast is None else f"{self.name} vs {self.contrast_name}"


@dataclass(frozen=True)
class Prediction:
    """What the model says about one image.

    Attributes:
        task: the task kind.
        outputs: raw model outputs (logits or normalised regression values), float32 (num_outputs,).
        scores: user-facing numbers per output: softmax probabilities (multiclass), sigmoid probabilities
            (multilabel) or de-normalised values (regression).
        names: output names, aligned with scores.
        decision: one-line verdict ("espresso", "cat, dog", "none", "uncertain (most likely: cat)", "calories 312").
        top: multiclass: top-k (name, probability); multilabel: labels over threshold; regression: every output.
        units: regression units, aligned with names.
    """

    task: TaskKind
    outputs: np.ndarray
    scores: np.ndarray
    names: tuple[str, ...]
    decision: str
    top: tuple[tuple[str, float], ...]
    units: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view for the API."""
        out: dict[str, Any] = {"task": self.task, "decision": self.decision}
        if self.task == "regression":
            units = self.units or ("",) * len(self.names)
            out["values"] = [
                {"name": n, "value": float(v), "unit": u}
                for n, v, u in zip(self.names, self.scores, units, strict=True)
            ]
        elif self.task == "multilabel":
            out["labels"] = [{"name": n, "probability": float(p)} for n, p in zip(self.names, self.scores, strict=True)]
            out["positive"] = [n for n, _ in self.top]
        else:
            out["top"] = [{"name": n, "probability": p} for n, p in self.top]
        return out


@dataclass(frozen=True)
class Explanation:
    """One attribution map for one target.

    Attributes:
        method: registry name ("gradcam", "occlusion", "integrated_gradients").
        target: what was explained.
        score: the target's raw output on the image (logit or normalised value; output A minus output B for a
            contrastive target), before the sign is applied.
        heatmap: raw signed attribution, float32 (h, w) at the model input resolution; positive = supports the target
            in its direction.
        options: every option that shaped the map, JSON-ready, enough to replay it.
        timings: seconds per phase ("total", "forward", ...).
        notes: warnings for the user (large IG delta, coarse Grad-CAM layer, ...).
        extras: method-specific JSON-ready facts (IG convergence delta, occlusion critical box, layer name, ...).
    """

    method: str
    target: Target
    score: float
    heatmap: np.ndarray
    options: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    extras: dict[str, Any] = field(default_factory=dict)

    def with_updates(self, **changes: Any) -> Explanation:
        """A copy with some fields replaced (results are immutable)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Counterfactual:
    """A minimal edit of the model's view that moves the prediction where the user asked.

    Attributes:
        request: the user's ask in words ("any other class", "class dog", "calories = 350").
        valid: whether the edited image (after 8-bit rounding and the model's own preprocessing) meets the request.
        pixels: the edited model view, float32 (3, h, w) in [0, 1].
        rgb: the counterfactual at the original image's size, uint8 (H, W, 3).
        delta: the change in the model view, float32 (h, w, 3) = edited - original pixels.
        before: prediction of the original image.
        after: prediction of the counterfactual as re-read from ``rgb``.
        metrics: validity, proximity (L2), sparsity (L1, share changed), total variation, steps, seconds.
        message: why it is not valid, or an empty string.
    """

    request: str
    valid: bool
    pixels: np.ndarray
    rgb: np.ndarray
    delta: np.ndarray
    before: Prediction
    after: Prediction
    metrics: dict[str, Any]
    message: str = ""


ExplainFn = Callable[..., Explanation]
Progress = Callable[[float, str], None]
"""progress(fraction done in [0, 1], message): how methods report to the UI; it may raise to stop the job."""
