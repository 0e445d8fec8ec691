"""Task metadata in config.json (multiclass, multilabel, regression): validation and the decision rules."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..types import Prediction, TaskInfo
from .imagenet import imagenet_names

DEFAULT_ABSTAIN = 0.25
TOP_K = 5
_SYNSET_RE = re.compile(r"^n\d{8}$")


def parse_task(config: dict[str, Any], model_id: str, num_outputs: int) -> TaskInfo:
    """Read and validate our task metadata beside timm's keys.

    Args:
        config: the parsed config.json.
        model_id: named in every error message.
        num_outputs: the head's width (timm's num_classes).

    Raises:
        ConfigError: a field is missing, of the wrong type, or of a length that does not match the head.
    """
    kind = config.get("task", "multiclass")
    if kind not in ("multiclass", "multilabel", "regression"):
        raise ConfigError(f"{model_id}: 'task' must be multiclass, multilabel or regression, got {kind!r}")
    if num_outputs <= 0:
        raise ConfigError(f"{model_id}: num_classes must be a positive number of outputs, got {num_outputs}")
    pcfg = config.get("pretrained_cfg") or {}
    if kind == "regression":
        names = _names(config.get("target_names"), "target_names", model_id, num_outputs, required=True)
        units = _strings(config.get("units", [""] * num_outputs), "units", model_id, num_outputs)
        mean, std = config.get("target_mean"), config.get("target_std")
        if (mean is None) != (std is None):
            raise ConfigError(f"{model_id}: give both target_mean and target_std (z-scored head) or neither")
        mean_t = _floats(mean, "target_mean", model_id, num_outputs) if mean is not None else None
        std_t = _floats(std, "target_std", model_id, num_outputs) if std is not None else None
        if std_t is not None and any(s <= 0 for s in std_t):
            raise ConfigError(f"{model_id}: every target_std must be > 0, got {list(std_t)}")
        return TaskInfo("regression", names, units=units, target_mean=mean_t, target_std=std_t)
    raw_names = config.get("label_names", pcfg.get("label_names"))
    names = _names(raw_names, "label_names", model_id, num_outputs, required=kind == "multilabel")
    if kind == "multilabel":
        thresholds = _floats(config.get("thresholds", [0.5] * num_outputs), "thresholds", model_id, num_outputs)
        if any(not 0.0 < t < 1.0 for t in thresholds):
            raise ConfigError(f"{model_id}: every threshold must be a probability in (0, 1), got {list(thresholds)}")
        abstain = float(config.get("abstain_threshold", DEFAULT_ABSTAIN))
        if not 0.0 <= abstain <= 1.0:
            raise ConfigError(f"{model_id}: abstain_threshold must be in [0, 1], got {abstain}")
        return TaskInfo("multilabel", names, thresholds=thresholds, abstain=abstain)
    return TaskInfo("multiclass", names)


def task_config(task: TaskInfo) -> dict[str, Any]:
    """The config.json keys that describe a task: the inverse of parse_task.

    Options left out of a multilabel or regression task are written with parse_task's defaults (thresholds of 0.5,
    DEFAULT_ABSTAIN, blank units), so ``parse_task(task_config(t), ...) == t`` for every task parse_task returns.
    """
    n = task.num_outputs
    if task.kind == "regression":
        config: dict[str, Any] = {
            "task": "regression",
            "target_names": list(task.names),
            "units": list(task.units or [""] * n),
        }
        if task.target_mean is not None and task.target_std is not None:
            config["target_mean"], config["target_std"] = list(task.target_mean), list(task.target_std)
        return config
    config = {"task": task.kind, "label_names": list(task.names)}
    if task.kind == "multilabel":
        config["thresholds"] = list(task.thresholds or [0.5] * n)
        config["abstain_threshold"] = DEFAULT_ABSTAIN if task.abstain is None else task.abstain
    return config


def _names(raw: Any, key: str, model_id: str, n: int, *, required: bool) -> tuple[str, ...]:
    if raw is None:
        if required:
            raise ConfigError(f"{model_id}: config.json needs '{key}' with {n} names, one per output")
        return tuple(f"class {i}" for i in range(n))
    if isinstance(raw, dict):  # timm allows {index: name} when ids have gaps
        try:
            raw = [raw.get(str(i), raw.get(i, f"class {i}")) for i in range(n)]
        except TypeError as exc:
            raise ConfigError(f"{model_id}: '{key}' must map output indices to names") from exc
    names = list(_strings(raw, key, model_id, n))
    if all(_SYNSET_RE.match(x) for x in names) and n == 1000:  # plain timm ImageNet repos store WordNet ids
        names = imagenet_names()
    seen: dict[str, int] = {}
    for i, name in enumerate(names):  # targets are chosen by name, so names must be unique
        if name in seen:
            names[i] = f"{name} ({i})"
        seen[name] = i
    return tuple(names)


def _strings(raw: Any, key: str, model_id: str, n: int) -> tuple[str, ...]:
    if not isinstance(raw, (list, tuple)) or not all(isinstance(x, str) for x in raw):
        raise ConfigError(f"{model_id}: '{key}' must be a list of {n} strings")
    if len(raw) != n:
        raise ConfigError(f"{model_id}: '{key}' has {len(raw)} entries but the model head has {n} outputs")
    return tuple(raw)


def _floats(raw: Any, key: str, model_id: str, n: int) -> tuple[float, ...]:
    if not isinstance(raw, (list, tuple)) or not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in raw
    ):
        raise ConfigError(f"{model_id}: '{key}' must be a list of {n} numbers")
    if len(raw) != n:
        raise ConfigError(f"{model_id}: '{key}' has {len(raw)} entries but the model head has {n} outputs")
    values = tuple(float(x) for x in raw)
    if not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{model_id}: '{key}' must hold finite numbers, got {list(values)}")
    return values


def user_scores(task: TaskInfo, outputs: np.ndarray) -> np.ndarray:
    """Raw outputs (..., K) -> what users read: softmax / sigmoid probabilities or de-normalised values."""
    x = np.asarray(outputs, dtype=np.float64)
    if task.kind == "multiclass":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
    if task.kind == "multilabel":
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)
    if task.target_mean is not None and task.target_std is not None:
        x = x * np.asarray(task.target_std) + np.asarray(task.target_mean)
    return x.astype(np.float32)


def raw_from_value(task: TaskInfo, index: int, value: float) -> float:
    """A regression value in user units -> the head's raw (possibly z-scored) output."""
    if task.target_mean is not None and task.target_std is not None:
        return (value - task.target_mean[index]) / task.target_std[index]
    return value


def decide(task: TaskInfo, outputs: Sequence[float] | np.ndarray, *, top_k: int = TOP_K) -> Prediction:
    """Apply the task's decision rule to one image's raw outputs.

    multilabel: labels at or above their threshold are reported; if none and the best probability is below the abstain
    level the answer is "none"; otherwise "uncertain (most likely: X)".
    """
    raw = np.asarray(outputs, dtype=np.float32).reshape(-1)
    scores = user_scores(task, raw)
    names = task.names
    if task.kind == "multiclass":
        order = np.argsort(-scores, kind="stable")[: min(top_k, len(names))]
        top = tuple((names[i], float(scores[i])) for i in order)
        return Prediction("multiclass", raw, scores, names, names[order[0]], top)
    if task.kind == "multilabel":
        assert task.thresholds is not None and task.abstain is not None  # parse_task guarantees them
        positive = [i for i in np.argsort(-scores, kind="stable") if scores[i] >= task.thresholds[i]]
        best = int(np.argmax(scores))
        if positive:
            decision = ", ".join(names[i] for i in positive)
        elif scores[best] < task.abstain:
            decision = "none"
        else:
            decision = f"uncertain (most likely: {names[best]})"
        top = tuple((names[i], float(scores[i])) for i in positive)
        return Prediction("multilabel", raw, scores, names, decision, top)
    units = task.units or ("",) * len(names)
    decision = ", ".join(f"{n} {_fmt(v)} {u}".strip() for n, v, u in zip(names, scores, units, strict=True))
    top = tuple((n, float(v)) for n, v in zip(names, scores, strict=True))
    return Prediction("regression", raw, scores, names, decision, top, units=units)


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
