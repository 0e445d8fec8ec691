"""Receipts: what reproduces an explanation (model, weights, image, method, options, target), and its replay."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import registry
from ..errors import ImageError, ModelSourceError, OptionError, TargetError
from ..models.loading import load_model
from ..models.preprocess import prepare_image
from ..models.sources import parse_source
from ..types import Explanation, LoadedModel, Prediction, PreparedImage, Target
from .evidence import evidence
from .fingerprint import fingerprint
from .scorecard import Scorecard

APP_VERSION = "0.1.0"  # pyproject.toml [project] version
RECEIPT_VERSION = 1
Loader = Callable[[str, "str | None"], LoadedModel]
_REQUIRED = ("receipt_version", "model", "image", "method", "options", "target")


@dataclass(frozen=True)
class Receipt:
    """A JSON-ready record of one explanation.

    Attributes:
        model: id, revision (40-hex commit for Hub models), weights_sha256, architecture, source kind, task kind.
        image: sha256 of the upload, its width and height, whether it is grayscale, the model's crop box.
        method: registry name of the method.
        options: every option the method ran with, as it reported them.
        target: name, index, kind, direction; for "A vs B" also contrast (B's name) and contrast_index.
        score: the target's raw output (logit or normalised value), before the direction's sign.
        prediction: the model's prediction of the image (``Prediction.to_dict``) when given.
        evidence: where the map puts the positive evidence (see ``report.evidence``), for the report.
        heatmap_sha256: sha256 of the float32 map bytes: identifies the exact map on the device that made it.
        scorecard: ``Scorecard.to_dict`` when the map was scored.
        fingerprint: the map's cell means and peak (``fingerprint.fingerprint``): replay checks a map against them
            within float tolerance without the .npy.
        similar: the image's similar cases (``SimilarCases.summary``) when a reference gallery was searched; it
            carries the gallery's sha256 under "gallery".
        timings: seconds per phase (explanation, scorecard, ...).
        notes: the method's warnings.
        extras: the method's facts (IG delta, occlusion critical box, Grad-CAM grid, ...).
        versions: torch, timm, captum, numpy, python and the app.
        device: where the map was computed (replays elsewhere agree to float tolerance, not bit for bit).
        created: UTC time, ISO 8601.
    """

    model: dict[str, Any]
    image: dict[str, Any]
    method: str
    options: dict[str, Any]
    target: dict[str, Any]
    score: float
    prediction: dict[str, Any] | None
    evidence: dict[str, Any]
    heatmap_sha256: str
    scorecard: dict[str, Any] | None = None
    fingerprint: dict[str, Any] | None = None
    similar: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    extras: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    device: str = "cpu"
    created: str = ""
    receipt_version: int = RECEIPT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (lists, dicts, str, float, int, bool, None)."""
        return _jsonable(dataclasses.asdict(self))


def build(
    model: LoadedModel,
    prepared: PreparedImage,
    explanation: Explanation,
    scorecard: Scorecard | None = None,
    timings: Mapping[str, float] | None = None,
    *,
    prediction: Prediction | None = None,
    similar: Mapping[str, Any] | None = None,
) -> Receipt:
    """The receipt of one explanation.

    Args:
        model: the model that made it.
        prepared: the image it explains (its sha256 identifies the upload).
        explanation: the map and how it was made.
        scorecard: its quality scorecard, if one was computed.
        timings: seconds per phase; the explanation's own timings are kept under "explanation.<phase>".
        prediction: the image's prediction, for the report's confidence band.
        similar: the image's similar cases, ``SimilarCases.summary()``: the receipt records the gallery's sha256
            and the report gains a sentence on them.
    """
    all_timings = {f"explanation.{k}": float(v) for k, v in explanation.timings.items()}
    all_timings.update({k: float(v) for k, v in (timings or {}).items()})
    rgb = prepared.rgb
    target = explanation.target
    return Receipt(
        model={
            "id": model.model_id,
            "revision": model.revision,
            "weights_sha256": model.weights_sha256,
            "architecture": model.architecture,
            "source": model.source.kind,
            "task": model.task.kind,
            "units": list(model.task.units) if model.task.units else None,
        },
        image={
            "sha256": prepared.sha256,
            "width": int(rgb.shape[1]),
            "height": int(rgb.shape[0]),
            "grayscale": bool(rgb.ndim == 2 or (np.ptp(rgb.astype(np.int16), axis=2) <= 2).all()),
            "crop_box": [float(v) for v in prepared.crop_box],
        },
        method=explanation.method,
        options=dict(explanation.options),
        target=target_record(target),
        score=float(explanation.score),
        prediction=prediction.to_dict() if prediction is not None else None,
        evidence=evidence(explanation.heatmap),
        heatmap_sha256=heatmap_sha256(explanation.heatmap),
        scorecard=scorecard.to_dict() if scorecard is not None else None,
        fingerprint=fingerprint(explanation.heatmap),
        similar=dict(similar) if similar is not None else None,
        timings=all_timings,
        notes=tuple(explanation.notes),
        extras=dict(explanation.extras),
        versions=versions(),
        device=str(model.device),
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )


def replay(receipt: Mapping[str, Any] | Receipt, image: Any, *, loader: Loader | None = None) -> Explanation:
    """Rerun the explanation a receipt describes, on the same model, weights, image, options and target.

    Args:
        receipt: a receipt (or its ``to_dict``, e.g. read back from JSON).
        image: the same upload, in any form ``prepare_image`` accepts; a file is checked by its bytes, so give the
            file (path or bytes) when the receipt was made from one.
        loader: (model id, revision) -> LoadedModel; by default the built-in model for "default" and the Hub for
            "owner/name" ids. The app passes its own, which knows its startup model.

    Raises:
        OptionError: the receipt is malformed or names an unknown method.
        ModelSourceError: the model cannot be loaded, or its weights differ from the receipt's (sha256).
        ImageError: the image is not the one the receipt was made from (sha256).
        TargetError: the model no longer has the receipt's target under that name.
    """
    data = receipt.to_dict() if isinstance(receipt, Receipt) else receipt
    if not isinstance(data, Mapping) or any(k not in data for k in _REQUIRED):
        missing = [k for k in _REQUIRED if not isinstance(data, Mapping) or k not in data]
        raise OptionError(f"not a receipt: missing {', '.join(missing)}; pass the JSON this app wrote")
    _check_shape(data)
    recorded, want_image = data["model"], data["image"]
    if loader is None and recorded.get("source") == "local":
        raise ModelSourceError(
            f"the receipt was made with the local model folder {recorded['id']!r}; replay it where that folder is "
            "(the app that made it, or replay(..., loader=...))"
        )
    model = (loader or _default_loader)(recorded["id"], recorded.get("revision"))
    if model.weights_sha256 != recorded["weights_sha256"]:
        raise ModelSourceError(
            f"the weights of {recorded['id']} have sha256 {model.weights_sha256[:12]}..., the receipt's have "
            f"{str(recorded['weights_sha256'])[:12]}...: these are different weights, so the map cannot be reproduced; "
            "load the revision the receipt names"
        )
    prepared = prepare_image(model, image)
    if prepared.sha256 != want_image["sha256"]:
        raise ImageError(
            f"this image has sha256 {prepared.sha256[:12]}..., the receipt's has {str(want_image['sha256'])[:12]}...: "
            "replay needs the exact file the receipt was made from (the same bytes, not a re-saved copy)"
        )
    explain, target = registry.get(str(data["method"])).explain, _target(model, data["target"])
    try:
        return explain(model, prepared.image, target=target, **dict(data["options"]))
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise OptionError(
                f"the receipt's options {sorted(data['options'])} do not fit {data['method']}: {exc}"
            ) from exc
        raise


def target_record(target: Target) -> dict[str, Any]:
    """The receipt's view of a target: what ``replay`` reads back."""
    record: dict[str, Any] = {
        "name": target.name,
        "index": target.index,
        "kind": target.kind,
        "direction": target.direction,
    }
    if target.contrast is not None:
        record.update(contrast=target.contrast_name, contrast_index=target.contrast)
    return record


def same_map(
    a: Explanation | np.ndarray, b: Explanation | np.ndarray, *, rtol: float = 1e-4, atol: float = 1e-5
) -> bool:
    """Whether two maps agree within float tolerance: |a - b| <= atol * max|a|, |b| + rtol * |b| everywhere.

    ``atol`` is relative to the larger map's peak, because maps of different methods differ in scale by orders of
    magnitude (IG sums to a logit difference; Grad-CAM is in activation units).
    """
    x = np.asarray(a.heatmap if isinstance(a, Explanation) else a, dtype=np.float64)
    y = np.asarray(b.heatmap if isinstance(b, Explanation) else b, dtype=np.float64)
    if x.shape != y.shape or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return False
    scale = max(float(np.abs(x).max(initial=0.0)), float(np.abs(y).max(initial=0.0)))
    return bool(np.allclose(x, y, rtol=rtol, atol=atol * scale))


def read_receipt(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The receipt in a JSON file this app wrote; of a Compare run's list of receipts, the first (``read_receipts``
    gives them all).

    Raises:
        OptionError: the file is not readable JSON, or holds neither an object nor a list of them.
    """
    found = read_receipts(path)
    return found[0] if found else {}


def read_receipts(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every receipt in a JSON file this app wrote: one for an explanation, one per map for a Compare run.

    Raises:
        OptionError: the file is not readable JSON, or holds neither an object nor a list of them.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise OptionError(f"the receipt is not readable JSON ({exc}); upload the file the app wrote") from exc
    found = data if isinstance(data, list) else [data]
    if not all(isinstance(d, dict) for d in found):
        raise OptionError("the receipt must be a JSON object (or the list a Compare run wrote)")
    return found


def read_map(path: str | os.PathLike[str]) -> np.ndarray:
    """A kept map: the 2-D float .npy array this app wrote, as float32 (pickled arrays are refused).

    Raises:
        OptionError: the file is not a .npy array, or not a 2-D float one.
    """
    try:
        kept = np.load(str(path), allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise OptionError(f"the kept map is not a .npy array ({exc}); upload the .npy the app returned") from exc
    if kept.ndim != 2 or not np.issubdtype(kept.dtype, np.floating):
        raise OptionError(f"the kept map must be a 2-D float array, got {kept.dtype} {kept.shape}")
    return kept.astype(np.float32)


def heatmap_sha256(heatmap: np.ndarray) -> str:
    """sha256 of the map as C-ordered float32 bytes, after its "HxW float32" shape line."""
    values = np.ascontiguousarray(heatmap, dtype=np.float32)
    digest = hashlib.sha256(f"{'x'.join(map(str, values.shape))} float32\n".encode())
    digest.update(values.tobytes())
    return digest.hexdigest()


def versions() -> dict[str, str]:
    """Versions of what shaped the map."""
    import captum
    import timm
    import torch

    return {
        "app": APP_VERSION,
        "torch": torch.__version__,
        "timm": timm.__version__,
        "captum": captum.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


# field -> (type it must have, what to say); a receipt is user input on the replay endpoint, so every field is checked
# before it is used.
_FIELDS: dict[tuple[str, ...], tuple[type | tuple[type, ...], str]] = {
    ("model",): (Mapping, "an object"),
    ("model", "id"): (str, "text"),
    ("model", "weights_sha256"): (str, "text"),
    ("image",): (Mapping, "an object"),
    ("image", "sha256"): (str, "text"),
    ("method",): (str, "text"),
    ("options",): (Mapping, "an object"),
    ("target",): (Mapping, "an object"),
    ("target", "name"): (str, "text"),
    ("target", "index"): (int, "a whole number"),
}
_RESERVED_OPTIONS = frozenset({"model", "image", "target", "progress"})


def _check_shape(data: Mapping[str, Any]) -> None:
    for path, (kind, words) in _FIELDS.items():
        value: Any = data
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if not isinstance(value, kind) or isinstance(value, bool):
            raise OptionError(
                f"the receipt's {'.'.join(path)} must be {words}, got {type(value).__name__}; "
                "pass the JSON this app wrote, unedited"
            )
    revision = data["model"].get("revision")
    if revision is not None and not isinstance(revision, str):
        raise OptionError(f"the receipt's model.revision must be text or null, got {type(revision).__name__}")
    reserved = _RESERVED_OPTIONS & set(data["options"])
    if reserved or not all(isinstance(k, str) for k in data["options"]):
        raise OptionError(f"the receipt's options may not set {sorted(map(str, reserved)) or 'non-text keys'}")


def _target(model: LoadedModel, spec: Mapping[str, Any]) -> Target:
    index, name = _output(model, spec["index"], spec["name"])
    direction = spec.get("direction", "raises")
    if direction not in ("raises", "lowers"):
        raise OptionError(f"the receipt's direction must be 'raises' or 'lowers', got {direction!r}")
    target = Target(index, name, model.task.kind, 1 if direction == "raises" else -1)
    if "contrast_index" not in spec and "contrast" not in spec:
        return target
    rival, rival_name = spec.get("contrast_index"), spec.get("contrast")
    if not isinstance(rival, int) or isinstance(rival, bool) or not isinstance(rival_name, str) or rival == index:
        raise OptionError(
            f"the receipt's contrast must name another output (contrast: text, contrast_index: a whole number), got "
            f"{rival_name!r} at {rival!r}; pass the JSON this app wrote, unedited"
        )
    rival, rival_name = _output(model, rival, rival_name)
    return dataclasses.replace(target, contrast=rival, contrast_name=rival_name)


def _output(model: LoadedModel, index: int, name: str) -> tuple[int, str]:
    index, name = int(index), str(name)
    names = model.task.names
    if not 0 <= index < len(names) or names[index] != name:
        found = names[index] if 0 <= index < len(names) else "nothing"
        raise TargetError(
            f"the receipt explains output {index} {name!r}, but this model's output {index} is {found}; "
            "its labels changed, so the receipt cannot be replayed on it"
        )
    return index, name


def _default_loader(model_id: str, revision: str | None) -> LoadedModel:
    return load_model(parse_source(model_id, revision, allow_local=False))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value
