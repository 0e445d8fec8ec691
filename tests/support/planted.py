"""Models whose right answer is known, for testing that explanations are faithful.

Each planted model exposes timm's hook-free surface (forward_features -> forward_head, feature_info, num_features),
so methods treat them exactly like timm models. `make_loaded` wraps any module as a LoadedModel.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from explainers.types import LoadedModel, ModelSource, TaskInfo

Box = tuple[int, int, int, int]  # (top, left, bottom, right) in input pixels, bottom/right exclusive


def make_loaded(
    model: nn.Module,
    task: TaskInfo,
    *,
    input_size: int = 64,
    model_id: str = "planted",
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5),
    std: tuple[float, float, float] = (0.5, 0.5, 0.5),
) -> LoadedModel:
    """Wrap a module as a LoadedModel on the CPU (eval mode, frozen), as loading.load_model would."""
    model.eval().requires_grad_(False)
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return LoadedModel(
        model=model,
        source=ModelSource("local", model_id),
        model_id=model_id,
        revision=None,
        weights_sha256=digest.hexdigest(),
        architecture=type(model).__name__,
        data_config={
            "input_size": (3, input_size, input_size),
            "interpolation": "bilinear",
            "mean": mean,
            "std": std,
            "crop_pct": 1.0,
            "crop_mode": "center",
        },
        task=task,
        device=torch.device("cpu"),
    )


def box_mask(size: int, box: Box, stride: int = 1) -> torch.Tensor:
    """(size/stride, size/stride) float mask that is 1 inside the box (given in input pixels)."""
    n = size // stride
    mask = torch.zeros(n, n)
    top, left, bottom, right = box
    mask[top // stride : bottom // stride, left // stride : right // stride] = 1.0
    return mask


class PlantedRegionNet(nn.Module):
    """Outputs read only local features inside planted boxes: output k = mean of ReLU(conv(x)) inside box k.

    The final feature map keeps stride `stride` (input 64, stride 8 -> 8x8) and box k lives in channel group k of it
    (features masked to the box), so Grad-CAM's assumptions hold: local features, spatial evidence before the cut,
    a fine enough map. With select_in_head=True the same function selects the boxes inside forward_head instead,
    after the cut, where channel-averaged Grad-CAM cannot see them (a documented limitation).
    """

    def __init__(
        self,
        boxes: list[Box],
        *,
        input_size: int = 64,
        stride: int = 8,
        channels: int = 8,
        seed: int = 0,
        select_in_head: bool = False,
    ) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.stride = stride
        self.select_in_head = select_in_head
        self.conv1 = nn.Conv2d(3, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, stride, stride=stride)
        with torch.no_grad():
            for conv in (self.conv1, self.conv2):
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.3)
                conv.bias.copy_(torch.rand(conv.bias.shape, generator=g) * 0.1)
        masks = torch.stack([box_mask(input_size, b, stride) for b in boxes])
        self.register_buffer("masks", masks / masks.flatten(1).sum(1).view(-1, 1, 1))
        self.num_features = channels if select_in_head else channels * len(boxes)
        self.num_classes = len(boxes)
        self.feature_info = [{"num_chs": self.num_features, "reduction": stride, "module": "conv2"}]
        self.forward_calls = 0  # counted so tests can prove a method runs the backbone once

    def local_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(torch.relu(self.conv1(x))))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.forward_calls += 1
        features = self.local_features(x)
        if self.select_in_head:
            return features
        return torch.cat([features * mask for mask in self.masks], dim=1)  # group k = features inside box k

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.select_in_head:
            return torch.einsum("nchw,khw->nkc", x, self.masks).mean(-1)
        groups = x.unflatten(1, (self.masks.shape[0], -1))  # (N, K, C, h, w), already weighted by the box masks
        return groups.sum((3, 4)).mean(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class MaskedCoarseNet(nn.Module):
    """A small CNN that only ever sees one planted box of the input, but whose last stage is 3x3 on a 48px input.

    The box is cut out at the input, so occlusion and integrated gradients are exactly zero outside it; Grad-CAM sees
    only the 3x3 last stage, whose every cell covers most of the image: it is known not to localise here.
    """

    def __init__(self, box: Box, *, input_size: int = 48, num_classes: int = 2, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("mask", box_mask(input_size, box).view(1, 1, input_size, input_size))
        self.stem = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 16, 3, stride=2, padding=1),
            nn.ReLU(),
        )  # 48 -> 3
        self.fc = nn.Linear(16, num_classes)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        self.num_features = 16
        self.num_classes = num_classes
        self.feature_info = [{"num_chs": 16, "reduction": 16, "module": "stem"}]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(x * self.mask)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.fc(x.mean((2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def quadrant_box(size: int, quadrant: int) -> Box:
    """Quadrant 0..3 (TL, TR, BL, BR) of a size x size image."""
    h = size // 2
    top, left = (quadrant // 2) * h, (quadrant % 2) * h
    return (top, left, top + h, left + h)


def planted_classifier(
    quadrant: int = 3, *, input_size: int = 64, seed: int = 0, select_in_head: bool = False
) -> LoadedModel:
    """Two-class model: class "evidence" reads only one quadrant; class "other" reads nothing (constant 0)."""
    box = quadrant_box(input_size, quadrant)
    net = PlantedRegionNet([box], input_size=input_size, seed=seed, select_in_head=select_in_head)
    model = _WithZeroClass(net)
    return make_loaded(
        model, TaskInfo("multiclass", ("evidence", "other")), input_size=input_size, model_id=f"planted-q{quadrant}"
    )


class _WithZeroClass(nn.Module):
    """Adds a constant-zero second logit so a single-box net becomes a two-class classifier."""

    def __init__(self, net: PlantedRegionNet) -> None:
        super().__init__()
        self.net = net
        self.num_features = net.num_features
        self.num_classes = 2
        self.feature_info = [{"num_chs": net.num_features, "reduction": net.stride, "module": "net.conv2"}]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        evidence = self.net.forward_head(x)
        return torch.cat([evidence, torch.zeros_like(evidence)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def planted_regressor(*, input_size: int = 64, seed: int = 0, select_in_head: bool = False) -> LoadedModel:
    """Two outputs: "left" reads only the left half, "right" only the right half (units: g)."""
    half = input_size // 2
    boxes = [(0, 0, input_size, half), (0, half, input_size, input_size)]
    net = PlantedRegionNet(boxes, input_size=input_size, seed=seed, select_in_head=select_in_head)
    task = TaskInfo("regression", ("left", "right"), units=("g", "g"))
    return make_loaded(net, task, input_size=input_size, model_id="planted-halves")


def coarse_classifier(quadrant: int = 3, *, input_size: int = 48, seed: int = 0) -> LoadedModel:
    """The known Grad-CAM miss: evidence in one quadrant, last stage 3x3."""
    net = MaskedCoarseNet(quadrant_box(input_size, quadrant), input_size=input_size, seed=seed)
    return make_loaded(net, TaskInfo("multiclass", ("a", "b")), input_size=input_size, model_id=f"coarse-q{quadrant}")


def planted_vit(*, input_size: int = 64, patch: int = 8, dim: int = 16, seed: int = 0) -> LoadedModel:
    """A timm VisionTransformer (2 blocks, 1 head, class token) whose class "cue" reads one thing: a checkerboard patch.

    Patch embedding channel 0 is a matched filter for a 1-pixel checkerboard (smooth pictures give about 0); the last
    block's class-token query attends to tokens by that channel and its value carries the channel into the class
    token, which the head reads. Block 0 and every MLP add small random mixing; "none" is a constant 0. The right
    answer is the patch that holds the cue (``cue_images``), wherever it is. The attention path is timm's own
    (fused by default), so the attention variant has to switch it off to read the weights.
    """
    from timm.models.vision_transformer import VisionTransformer

    g = torch.Generator().manual_seed(seed)
    net = VisionTransformer(
        img_size=input_size, patch_size=patch, embed_dim=dim, depth=2, num_heads=1, mlp_ratio=1.0, num_classes=2
    )
    with torch.no_grad():
        for name, p in net.named_parameters():
            small = name.startswith("blocks.0.attn") or ".mlp." in name
            p.copy_(torch.randn(p.shape, generator=g) * 0.05 if small else torch.zeros_like(p))
        for m in net.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.fill_(1.0)
        checker = (torch.arange(patch)[:, None] + torch.arange(patch)[None]) % 2 * 2.0 - 1.0
        embed = net.patch_embed.proj.weight  # (dim, 3, patch, patch)
        embed[0] = checker / patch**2  # 3.0 on the cue (+-1 in all three normalised channels), ~0 on smooth pictures
        embed[1:] = torch.randn(dim - 1, 3, 1, 1, generator=g) / patch**2  # colour features
        net.cls_token[0, 0, 0] = -2.0  # the class token does not attend to itself
        net.cls_token[0, 0, 2:] = torch.randn(dim - 2, generator=g) * 0.5
        qkv, last = net.blocks[1].attn.qkv, net.blocks[1].attn
        qkv.bias[0] = 6.0  # query: a constant along channel 0
        qkv.weight[dim, 0] = 1.0  # key: channel 0 of the normed token
        qkv.weight[2 * dim + 1, 0] = 1.0  # value: the same, into channel 1
        last.proj.weight[1, 1] = 1.0
        net.head.weight[0, 1] = 1.0  # "cue" reads channel 1 of the class token
    return make_loaded(net, TaskInfo("multiclass", ("cue", "none")), input_size=input_size, model_id="planted-vit")


def cue_images(n: int, *, size: int = 64, patch: int = 8, seed: int = 0) -> tuple[torch.Tensor, list[Box]]:
    """n smooth random images, each with the checkerboard cue on one random patch of the grid, and those patches."""
    g = torch.Generator().manual_seed(seed)
    images = random_images(n, size, seed=seed)
    checker = ((torch.arange(patch)[:, None] + torch.arange(patch)[None]) % 2 * 2.0 - 1.0).expand(3, -1, -1)
    boxes: list[Box] = []
    for i in range(n):
        row, col = (torch.randint(0, size // patch, (2,), generator=g) * patch).tolist()
        images[i, :, row : row + patch, col : col + patch] = checker
        boxes.append((row, col, row + patch, col + patch))
    return images, boxes


def random_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """n normalised random images (n, 3, size, size): smooth noise, so local features vary across the picture."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(n, 3, size // 4, size // 4, generator=g)
    pixels = torch.nn.functional.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    return (pixels - 0.5) / 0.5


def peak_in_box(heatmap: Any, box: Box) -> bool:
    """The pointing game: does the map's maximum fall inside the box?"""
    import numpy as np

    arr = np.asarray(heatmap)
    r, c = np.unravel_index(int(np.argmax(arr)), arr.shape)
    top, left, bottom, right = box
    return top <= r < bottom and left <= c < right


def hooks_left(module: nn.Module) -> int:
    """Hooks of any kind still registered on a module tree (a method must leave none behind)."""
    attrs = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks", "_state_dict_hooks")
    return sum(len(getattr(m, a, {})) for m in module.modules() for a in attrs)


# Cue models for counterfactuals: each output reads one small box (CUE_BOXES, 24 x 24 of a 64 x 64 input: 14% of the
# picture each), so the smallest edit that moves an output lies in its box (and the one-pixel rim conv1 reads).
CUE_BOXES: tuple[Box, Box] = ((8, 8, 32, 32), (32, 32, 56, 56))


def cue_regressor(*, seed: int = 0) -> LoadedModel:
    """Two outputs in g: "a" reads only CUE_BOXES[0], "b" only CUE_BOXES[1]."""
    net = PlantedRegionNet(list(CUE_BOXES), seed=seed)
    return make_loaded(net, TaskInfo("regression", ("a", "b"), units=("g", "g")), model_id="planted-cues")


class Shifted(nn.Module):
    """Subtracts a constant from each logit (so a class that reads nothing can still win); keeps timm's surface when
    the wrapped net has it (forward_features -> forward_head)."""

    def __init__(self, net: nn.Module, shift: tuple[float, ...]) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("shift", torch.tensor(shift))
        for name in ("num_features", "num_classes", "feature_info"):
            if hasattr(net, name):
                setattr(self, name, getattr(net, name))
        if hasattr(net, "feature_info"):  # the hooked module now sits one level deeper
            self.feature_info = [{**info, "module": f"net.{info['module']}"} for info in net.feature_info]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.net.forward_head(x) - self.shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) - self.shift


def cue_classifier(*, seed: int = 0) -> LoadedModel:
    """Two classes: "evidence" reads only CUE_BOXES[0], "other" nothing; shifted so each wins on about half of the
    noise_photo uploads (the evidence logit's median over seeds 0-31 is subtracted)."""
    net = PlantedRegionNet([CUE_BOXES[0]], seed=seed)
    model = _WithZeroClass(net).eval().requires_grad_(False)
    pixels = torch.stack([torch.from_numpy(np.array(noise_photo(s))).permute(2, 0, 1) for s in range(32)]) / 255
    with torch.no_grad():
        median = float(model((pixels - 0.5) / 0.5)[:, 0].median())
    task = TaskInfo("multiclass", ("evidence", "other"))
    return make_loaded(Shifted(model, (median, 0.0)), task, model_id="planted-cue-classifier")


def noise_photo(seed: int, size: tuple[int, int] = (64, 64)) -> Image.Image:
    """A smooth-noise RGB photo of the given (width, height): 16 x 16 random colours, bilinearly enlarged."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, 16, 16, generator=g)
    big = nn.functional.interpolate(small, size=(size[1], size[0]), mode="bilinear", align_corners=False)[0]
    return Image.fromarray((big.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def share_inside(delta: Any, box: Box) -> float:
    """The share of an (h, w, 3) change's absolute mass that lies inside the box."""
    magnitude = np.abs(np.asarray(delta)).sum(-1)
    top, left, bottom, right = box
    return float(magnitude[top:bottom, left:right].sum() / max(float(magnitude.sum()), 1e-30))
