"""Galleries whose answers are known: a model that embeds an image as its mean colour, and folders of solid colours."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from planted import make_loaded
from torch import nn

from explainers.types import LoadedModel, TaskInfo

SIZE = 32


class ColourNet(nn.Module):
    """Embeds an image as its mean normalised colour (3 numbers); the head is a fixed random linear map of it."""

    def __init__(self, outputs: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.fc = nn.Linear(3, outputs)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(self.fc.weight.shape, generator=g))
            self.fc.bias.zero_()
        self.num_features = 3
        self.num_classes = outputs
        self.feature_info = [{"num_chs": 3, "reduction": 1, "module": "fc"}]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        pooled = x.mean((2, 3))
        return pooled if pre_logits else self.fc(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def colour_model(task: TaskInfo, *, seed: int = 0, model_id: str = "colours") -> LoadedModel:
    """A LoadedModel around ColourNet (32x32 input, mean 0.5, std 0.5), its head as wide as the task."""
    return make_loaded(ColourNet(task.num_outputs, seed), task, input_size=SIZE, model_id=model_id)


def solid(path: Path, rgb: tuple[int, int, int]) -> Path:
    """Write a SIZE x SIZE PNG of one colour."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((SIZE, SIZE, 3), rgb, dtype=np.uint8)).save(path)
    return path


def class_folder(root: Path, classes: dict[str, list[tuple[int, int, int]]]) -> Path:
    """root/<class>/<i>.png, one solid colour each."""
    for name, colours in classes.items():
        for i, rgb in enumerate(colours):
            solid(root / name / f"{i}.png", rgb)
    return root


def labelled_folder(root: Path, rows: list[dict], colours: list[tuple[int, int, int]], *, kind: str = "jsonl") -> Path:
    """root/<i>.png in the given colours and a labels file (labels.jsonl or labels.csv) with one row each."""
    for i, rgb in enumerate(colours):
        solid(root / f"{i}.png", rgb)
    rows = [{"file_name": f"{i}.png", **row} for i, row in enumerate(rows)]
    if kind == "jsonl":
        (root / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        keys = list(rows[0])
        lines = [",".join(keys)] + [",".join(str(r[k]) for k in keys) for r in rows]
        (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root
