"""Planted-cue models: a CNN and a timm ViT that answer only to a small magenta square, so every map's right answer
is the square (the faithfulness benchmark's and the tests' known answer).

The picture is smooth grey noise with little colour; the cue is a magenta square (R = B = 1, G = 0) about a tenth of
the side (10 px at 96, 24 px at 224) at a seeded place. Both models compute the per-pixel colour score
m = R + B - 2G (2 on the cue, |m| < 0.4 on the background), keep only m above CUE_THRESHOLD, and output its mean as
the "cue" logit; a second logit is constant 0. Nothing outside the cue can move the output.
"""

from __future__ import annotations

import numpy as np
import timm
import torch
import torch.nn.functional as F
from planted import Box, make_loaded
from torch import nn

from explainers.types import LoadedModel, TaskInfo

CUE_THRESHOLD = 0.8  # in pixel units of m = R + B - 2G: the background stays below 0.4, the cue is at 2
CUE_FRACTION = 0.105  # cue side over image side: 10 px at 96, 24 px at 224
TASK = TaskInfo("multiclass", ("cue", "other"))
# In the models' normalised space (mean = std = 0.5), m = 0.5 (xR + xB - 2 xG): the colour score as a linear filter.
_SCORE = torch.tensor([0.5, -1.0, 0.5])
_SHARPNESS, _PATCH_THRESHOLD = 20.0, 0.5  # the ViT thresholds patch means, not pixels
_GAIN = 100.0  # logit per unit of mean thresholded score: a 10 px cue on 96 px gives a logit of ~1.3


def cue_side(size: int) -> int:
    """Side of the planted square in pixels."""
    return max(4, round(CUE_FRACTION * size))


def cue_box(size: int, seed: int) -> Box:
    """(top, left, bottom, right) of the square for this seed, at least one cue side away from the border."""
    side = cue_side(size)
    rng = np.random.default_rng(seed)
    top, left = (int(v) for v in rng.integers(side, size - 2 * side, size=2))
    return top, left, top + side, left + side


def cue_pixels(size: int, seed: int) -> tuple[torch.Tensor, Box]:
    """(pixels (1, 3, size, size) in [0, 1], the cue's box): smooth grey noise, a little colour, the magenta square."""
    g = torch.Generator().manual_seed(seed)
    grey = F.interpolate(torch.rand(1, 1, 8, 8, generator=g), size=(size, size), mode="bicubic", align_corners=False)
    tint = F.interpolate(torch.rand(1, 3, 6, 6, generator=g) - 0.5, size=(size, size), mode="bilinear")
    pixels = (0.15 + 0.7 * grey + 0.12 * tint).clamp(0, 1)
    box = cue_box(size, seed)
    top, left, bottom, right = box
    pixels[0, :, top:bottom, left:right] = torch.tensor([1.0, 0.0, 1.0]).view(3, 1, 1)
    return pixels, box


def cue_image(size: int, seed: int) -> tuple[torch.Tensor, Box]:
    """The same picture normalised for the cue models (mean = std = 0.5)."""
    pixels, box = cue_pixels(size, seed)
    return (pixels - 0.5) / 0.5, box


class CueCNN(nn.Module):
    """Colour score (1x1 conv), threshold (ReLU), a 3x3 smoothing conv, average pooling to a stride-``stride`` grid.

    Exposes timm's hook-free surface: forward_features gives (N, 4, size/stride, size/stride) whose channel 0 is the
    pooled cue detector (the other three are random features the head ignores), forward_head averages and scales it.
    """

    def __init__(self, *, stride: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.stride = stride
        self.score = nn.Conv2d(3, 4, 1)
        self.smooth = nn.Conv2d(4, 4, 3, padding=1)
        with torch.no_grad():
            self.score.weight.copy_(torch.randn(4, 3, 1, 1, generator=g) * 0.3)
            self.score.bias.zero_()
            self.score.weight[0, :, 0, 0] = _SCORE
            self.score.bias[0] = -CUE_THRESHOLD
            self.smooth.weight.copy_(torch.randn(4, 4, 3, 3, generator=g).abs() * 0.1)
            self.smooth.weight[0].zero_()
            self.smooth.weight[1:, 0].zero_()
            self.smooth.weight[0, 0] = 1.0 / 9
            self.smooth.bias.zero_()
        self.num_features = 4
        self.num_classes = 2
        self.feature_info = [{"num_chs": 4, "reduction": stride, "module": "smooth"}]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.smooth(torch.relu(self.score(x))), self.stride)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        cue = x[:, 0].mean((1, 2)) * _GAIN
        return torch.stack([cue, torch.zeros_like(cue)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def cue_vit(size: int, *, seed: int = 0) -> nn.Module:
    """A timm VisionTransformer (2 blocks, average-pooled patch tokens) whose weights are set to read only the cue.

    Patch embedding: channel 0 = the patch's mean colour score. Block 1's MLP thresholds it into channel 1 (GELU of
    score - threshold, scaled); attention mixes the other channels with random weights but writes nothing into channels
    0 and 1, and the norms are identities, so the head (the mean of channel 1) reads the cue and nothing else.
    """
    patch = 8 if size <= 128 else 16
    dim = 8
    net = timm.create_model(
        "vit_tiny_patch16_224",
        pretrained=False,
        img_size=size,
        patch_size=patch,
        embed_dim=dim,
        depth=2,
        num_heads=2,
        mlp_ratio=2,
        num_classes=2,
        global_pool="avg",
        class_token=False,
    )
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
        net.pos_embed.zero_()
        w = net.patch_embed.proj.weight  # (dim, 3, patch, patch)
        w[0] = _SCORE.view(3, 1, 1) / (patch * patch)
        net.patch_embed.proj.bias[0] = 0.0
        net.patch_embed.proj.weight[1].zero_()
        net.patch_embed.proj.bias[1] = 0.0
        for block in net.blocks:
            block.attn.proj.weight[:2].zero_()
            block.attn.proj.bias[:2] = 0.0
            block.mlp.fc2.weight[:2].zero_()
            block.mlp.fc2.bias[:2] = 0.0
        first = net.blocks[0].mlp
        first.fc1.weight[0].zero_()
        # GELU(20 (score - 0.5)) / 20: a patch at least ~40% covered by the cue fires (a 10 px cue straddling four
        # 8 px patches covers 39% of each); the background (|patch score| < 0.2) sits where GELU is flat at 0.
        first.fc1.weight[0, 0] = _SHARPNESS
        first.fc1.bias[0] = -_SHARPNESS * _PATCH_THRESHOLD
        first.fc2.weight[1, 0] = 1.0 / _SHARPNESS
        net.head.weight.zero_()
        net.head.bias.zero_()
        net.head.weight[0, 1] = _GAIN
    for block in net.blocks:
        block.norm1, block.norm2 = nn.Identity(), nn.Identity()
    net.norm, net.fc_norm = nn.Identity(), nn.Identity()
    return net


def cue_model(kind: str, size: int, *, seed: int = 0) -> LoadedModel:
    """The planted-cue model of this kind ("cnn" or "vit") at this input size, as a LoadedModel on the CPU."""
    if kind == "cnn":
        net: nn.Module = CueCNN(stride=8 if size <= 128 else 16, seed=seed)
    elif kind == "vit":
        net = cue_vit(size, seed=seed)
    else:
        raise ValueError(f"expected kind 'cnn' or 'vit', got {kind!r}")
    return make_loaded(net, TASK, input_size=size, model_id=f"cue-{kind}-{size}")
