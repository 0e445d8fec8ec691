"""A conservative fine-tune: the head first, then (optionally) the last stage, at low learning rates, corrections
up-weighted and a sample of the original data mixed in against forgetting, with the loss that fits the task.

The model stays in eval mode throughout: batch-norm statistics and dropout are those of the original training, so
only the chosen parameters move, and the same data give the same weights.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from explainers.errors import ConfigError
from explainers.options import real, whole
from explainers.types import LoadedModel, TaskInfo

from .data import Examples
from .resume import last_stage_forward

Report = Callable[[float, str], None]
FEATURE_BATCH = 256
HUBER_DELTA = 1.0  # in standard deviations of each target


@dataclass(frozen=True)
class Plan:
    """How much to move, and how fast.

    Attributes:
        head_epochs: passes over the data training the classifier alone, on features computed once.
        stage_epochs: passes training the last feature stage with the head (0: the head only).
        head_lr: AdamW learning rate of the head stage.
        stage_lr: AdamW learning rate of the last-stage stage, ten times lower by default.
        correction_weight: each correction counts this many times an original image in the loss.
        batch: images per step.
        seed: the order of the batches.
    """

    head_epochs: int = 10
    stage_epochs: int = 0
    head_lr: float = 1e-3
    stage_lr: float = 1e-4
    correction_weight: float = 10.0
    batch: int = 64
    seed: int = 0

    def validate(self) -> Plan:
        """The plan, or an OptionError naming the setting that is out of range."""
        whole(self.head_epochs, "head epochs", low=0, high=1000)
        whole(self.stage_epochs, "last-stage epochs", low=0, high=1000)
        if self.head_epochs + self.stage_epochs == 0:
            whole(0, "head epochs + last-stage epochs", low=1)
        real(self.head_lr, "head learning rate", low=0.0, high=1.0, low_open=True)
        real(self.stage_lr, "last-stage learning rate", low=0.0, high=1.0, low_open=True)
        real(self.correction_weight, "correction weight", low=0.0, high=1000.0, low_open=True)
        whole(self.batch, "batch", low=1, high=4096)
        whole(self.seed, "seed", low=0, high=2**63 - 1)
        return self

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready settings, for the figures and the card."""
        return asdict(self)


@dataclass(frozen=True)
class Scale:
    """Per-target mean and std that turn regression values into z-scores (the loss and the metric use them)."""

    mean: torch.Tensor
    std: torch.Tensor
    zscored_head: bool

    @staticmethod
    def of(task: TaskInfo, targets: torch.Tensor) -> Scale:
        """The head's own z-scoring when config.json has one, else the training targets' statistics."""
        if task.target_mean is not None and task.target_std is not None:
            return Scale(torch.tensor(task.target_mean), torch.tensor(task.target_std), True)
        if task.kind != "regression" or len(targets) == 0:
            return Scale(torch.zeros(1), torch.ones(1), False)
        std = targets.float().std(dim=0, unbiased=False) if len(targets) > 1 else torch.ones(targets.shape[1])
        return Scale(targets.float().mean(dim=0), torch.where(std > 0, std, torch.ones_like(std)), False)

    def z(self, outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(outputs, targets) in standard deviations of each target."""
        z_targets = (targets - self.mean) / self.std
        return (outputs if self.zscored_head else (outputs - self.mean) / self.std), z_targets


def per_example_loss(task: TaskInfo, outputs: torch.Tensor, targets: torch.Tensor, scale: Scale) -> torch.Tensor:
    """(N,) cross-entropy (multiclass), BCE averaged over labels (multilabel) or Huber on z-scores (regression)."""
    if task.kind == "multiclass":
        return F.cross_entropy(outputs, targets, reduction="none")
    if task.kind == "multilabel":
        return F.binary_cross_entropy_with_logits(outputs, targets, reduction="none").mean(dim=1)
    z_outputs, z_targets = scale.z(outputs, targets)
    return F.huber_loss(z_outputs, z_targets, reduction="none", delta=HUBER_DELTA).mean(dim=1)


def head_parameters(net: nn.Module) -> list[str]:
    """Names of the classifier's parameters (timm's get_classifier())."""
    get_classifier = getattr(net, "get_classifier", None)
    classifier = get_classifier() if callable(get_classifier) else None
    for prefix, module in net.named_modules():
        if classifier is not None and module is classifier and prefix:
            return [f"{prefix}.{name}" for name, _ in module.named_parameters()]
    raise ConfigError(f"{type(net).__name__} has no classifier module (timm's get_classifier()) to fine-tune")


def last_stage_parameters(net: nn.Module) -> list[str]:
    """Names of the parameters after the second-to-last feature stage (timm's feature_info): last stage and head.

    timm registers modules in forward order, so what comes after the end of the second-to-last stage is the last
    stage, the final norm or conv and the head. Models without feature_info train the head only.
    """
    info = getattr(net, "feature_info", None)
    stages = [str(i.get("module", "")) for i in info] if isinstance(info, list) else []
    names = [name for name, _ in net.named_parameters()]
    ends = [i for i, n in enumerate(names) if len(stages) >= 2 and n.startswith(stages[-2] + ".")]
    return names[ends[-1] + 1 :] if ends else head_parameters(net)


def finetune(
    model: LoadedModel, original: Examples, corrections: Examples, plan: Plan, report: Report | None = None
) -> nn.Module:
    """A fine-tuned copy of the model's network (the loaded model is left as it was).

    Args:
        model: the model the corrections were made for.
        original: a sample of its original data, weight 1 each.
        corrections: the visitors' corrections, weight ``plan.correction_weight`` each.
        plan: epochs, learning rates, weights, batch and seed.
        report: called with (fraction of the training done, message) after every step.
    """
    plan.validate()
    net: Any = copy.deepcopy(model.model).cpu().eval().requires_grad_(False)
    net = net.to(memory_format=torch.channels_last)  # ~3x faster convolutions on CPU
    images = torch.cat([original.images, corrections.images]).contiguous(memory_format=torch.channels_last)
    targets = torch.cat([original.targets, corrections.targets])
    weights = torch.cat([torch.ones(len(original)), torch.full((len(corrections),), float(plan.correction_weight))])
    scale = Scale.of(model.task, targets)
    steps_per_epoch = -(-len(targets) // plan.batch)
    total = max(1, steps_per_epoch * (plan.head_epochs + plan.stage_epochs))
    done = [0]

    def step(message: str) -> None:
        done[0] += 1
        if report is not None:
            report(done[0] / total, message)

    generator = torch.Generator().manual_seed(plan.seed)
    if plan.head_epochs:
        classifier = net.get_classifier()
        features = _pre_logits(net, images)
        params = _select(net, head_parameters(net))
        with torch.no_grad():
            exact = torch.allclose(classifier(features[:4]), net(images[:4]), atol=1e-4, rtol=1e-4)
        # A head that is more than one module on the pre-logits (none in timm today) gets full passes instead.
        forward, inputs = (classifier, features) if exact else (net, images)
        batches = _Batches(model.task, inputs, targets, weights, scale, plan.batch, generator)
        _fit(batches, forward, params, plan.head_epochs, plan.head_lr, lambda e: step(f"head, epoch {e}"))
    if plan.stage_epochs:
        names = last_stage_parameters(net)
        forward, inputs = last_stage_forward(net, names, images)  # the frozen stages once, not every step
        params = _select(net, names)
        batches = _Batches(model.task, inputs, targets, weights, scale, plan.batch, generator)
        _fit(batches, forward, params, plan.stage_epochs, plan.stage_lr, lambda e: step(f"last stage, epoch {e}"))
    return net.to(memory_format=torch.contiguous_format).requires_grad_(False).eval()


def _select(net: nn.Module, names: list[str]) -> list[nn.Parameter]:
    wanted = set(names)
    return [p for n, p in net.named_parameters() if n in wanted]


def _pre_logits(net: Any, images: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        out = [
            net.forward_head(net.forward_features(images[i : i + FEATURE_BATCH]), pre_logits=True)
            for i in range(0, len(images), FEATURE_BATCH)
        ]
    return torch.cat(out).clone()


@dataclass(frozen=True)
class _Batches:
    """What one stage trains on: inputs (images or features), targets, weights, in seeded random batches."""

    task: TaskInfo
    inputs: torch.Tensor
    targets: torch.Tensor
    weights: torch.Tensor
    scale: Scale
    size: int
    generator: torch.Generator


def _fit(
    data: _Batches,
    forward: Callable[[torch.Tensor], torch.Tensor],
    params: list[nn.Parameter],
    epochs: int,
    lr: float,
    step: Callable[[int], None],
) -> None:
    """Weighted-mean loss; AdamW without weight decay (the anchors are the low rate and the original data), its rate
    decayed to zero along a half cosine so that the last steps only settle.
    """
    for p in params:
        p.requires_grad_(True)
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    total = max(1, epochs * -(-len(data.targets) // data.size))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: 0.5 * (1.0 + math.cos(math.pi * s / total)))
    try:
        for epoch in range(1, epochs + 1):
            for batch in torch.randperm(len(data.targets), generator=data.generator).split(data.size):
                losses = per_example_loss(data.task, forward(data.inputs[batch]), data.targets[batch], data.scale)
                loss = (losses * data.weights[batch]).sum() / data.weights[batch].sum()
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
                step(epoch)
    finally:
        for p in params:
            p.requires_grad_(False)
