"""Training the last stage without running the frozen stages at every step: their output is computed once and fed in
where the last stage starts (a forward pre-hook, held only inside a with block), after checking on a few images that
this gives the network's own outputs. Any model where it would not (a skip connection across the stage boundary, a
stage called twice) is trained with full passes instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

BATCH = 256
MAX_CACHE_BYTES = 2 * 1024**3  # above this the stage inputs are recomputed every step instead of kept in memory


def stage_start(net: nn.Module, names: list[str]) -> nn.Module | None:
    """The module the first trainable parameter belongs to, at the depth of timm's feature_info stage names
    ("blocks.5" for EfficientNet, "layer4" for ResNet); None when there is no such module.
    """
    info = getattr(net, "feature_info", None)
    stages = [str(i.get("module", "")) for i in info] if isinstance(info, list) else []
    if len(stages) < 2 or not names:
        return None
    path = ".".join(names[0].split(".")[: stages[-2].count(".") + 1])
    try:
        return net.get_submodule(path)
    except AttributeError:
        return None


@contextlib.contextmanager
def _fed(module: nn.Module, holder: dict[str, torch.Tensor]) -> Iterator[None]:
    handle = module.register_forward_pre_hook(lambda _, args: (holder["x"], *args[1:]))
    try:
        yield
    finally:
        handle.remove()


class Resumed:
    """net(x) for x = the inputs of the stage module: the frozen stages run on one image only, then are replaced."""

    def __init__(self, net: nn.Module, module: nn.Module, probe: torch.Tensor) -> None:
        self.net, self.module, self.probe = net, module, probe[:1]
        self.holder: dict[str, torch.Tensor] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The network's outputs for stage inputs ``x``."""
        self.holder["x"] = x
        with _fed(self.module, self.holder):
            return self.net(self.probe)


def stage_inputs(net: nn.Module, module: nn.Module, images: torch.Tensor) -> torch.Tensor | None:
    """What ``module`` receives for each image (None if it is not called exactly once per pass, or too large)."""
    captured: list[torch.Tensor] = []

    def grab(_: nn.Module, args: tuple[Any, ...]) -> None:
        captured.append(args[0].detach().clone())

    handle = module.register_forward_pre_hook(grab)
    try:
        with torch.no_grad():  # not inference_mode: these tensors feed training later
            for first in range(0, len(images), BATCH):
                net(images[first : first + BATCH])
                per_image = captured[0][0].numel() * captured[0].element_size()
                if len(captured) != first // BATCH + 1 or per_image * len(images) > MAX_CACHE_BYTES:
                    return None
    finally:
        handle.remove()
    return torch.cat(captured)


def last_stage_forward(net: nn.Module, names: list[str], images: torch.Tensor) -> tuple[Any, torch.Tensor]:
    """(forward, inputs) for training the parameters ``names``: Resumed on cached stage inputs when that is proved
    to give the network's own outputs, else the network itself on the images.
    """
    module = stage_start(net, names)
    cached = stage_inputs(net, module, images) if module is not None else None
    if module is None or cached is None:
        return net, images
    resumed = Resumed(net, module, images)
    with torch.no_grad():
        try:
            same = torch.allclose(resumed(cached[:4]), net(images[:4]), atol=1e-4, rtol=1e-3)
        except RuntimeError:  # shapes that only fit the full pass
            same = False
    return (resumed, cached) if same else (net, images)
