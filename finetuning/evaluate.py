"""Before/after figures: accuracy (multiclass), exact match at the model's thresholds (multilabel), mean absolute
error in standard deviations (regression), on the held-aside original data and on the corrections.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from explainers.types import TaskInfo

from .data import Examples
from .train import Scale

METRICS = {"multiclass": "accuracy", "multilabel": "exact match", "regression": "MAE (std)"}
BATCH = 256


def outputs(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Raw outputs (N, K) of the network in eval mode, without autograd."""
    net.eval()
    with torch.inference_mode():
        chunks = [
            net(images[i : i + BATCH].contiguous(memory_format=torch.channels_last)).float()
            for i in range(0, len(images), BATCH)
        ]
    return torch.cat(chunks) if chunks else torch.zeros(0)


def score(task: TaskInfo, raw: torch.Tensor, targets: torch.Tensor, scale: Scale) -> float:
    """The task's metric over a set (NaN for an empty set).

    multiclass: share of top-1 answers equal to the target; multilabel: share of images whose labels at the model's
    thresholds are exactly the target set; regression: mean |output - target| in standard deviations of each target.
    """
    if len(targets) == 0:
        return math.nan
    if task.kind == "multiclass":
        return float((raw.argmax(dim=1) == targets).float().mean())
    if task.kind == "multilabel":
        thresholds = torch.tensor(task.thresholds or (0.5,) * task.num_outputs)
        on = torch.sigmoid(raw) >= thresholds
        return float((on == targets.bool()).all(dim=1).float().mean())
    z_outputs, z_targets = scale.z(raw, targets)
    return float((z_outputs - z_targets).abs().mean())


def evaluate(
    net: nn.Module,
    task: TaskInfo,
    sets: Mapping[str, Examples],
    scale: Scale,
    report: Callable[[float, str], None] | None = None,
) -> dict[str, float]:
    """The metric on each named set."""
    out = {}
    for n, (name, examples) in enumerate(sets.items(), start=1):
        out[name] = score(task, outputs(net, examples.images), examples.targets, scale)
        if report is not None:
            report(n / len(sets), name)
    return out


def figures(task: TaskInfo, sets: Mapping[str, Examples], before: dict[str, float], after: dict[str, float]) -> dict:
    """{set: {n, metric, before, after}} for the card, the owner's status and report.json."""
    table: dict[str, Any] = {}
    for name, examples in sets.items():
        pair = {k: None if math.isnan(v[name]) else v[name] for k, v in (("before", before), ("after", after))}
        table[name] = {"n": len(examples), "metric": METRICS[task.kind], **pair}
    return table
