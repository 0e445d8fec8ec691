"""Proving a folder before upload: the Space's own loader rebuilds it and must reproduce the checkpoint's outputs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
from PIL import Image

from explainers.models import loading
from explainers.models.preprocess import prepare_pil
from explainers.models.sources import parse_source
from explainers.types import LoadedModel, TaskKind

from .card import check_card
from .checkpoint import fit_leading_component, read_checkpoint
from .errors import VerificationError
from .folder import ATOL, FOLDER_FILES, README_NAME, build_model


@dataclass(frozen=True)
class Verification:
    """What verify_folder proved about a folder."""

    architecture: str
    task: TaskKind
    num_outputs: int
    input_size: tuple[int, int]
    max_abs_diff: float
    outputs: tuple[float, ...] = field(repr=False)


def sample_image(input_size: tuple[int, int]) -> Image.Image:
    """A fixed synthetic RGB picture at the model's input size: gradients, a checkerboard and a disc."""
    h, w = input_size
    y, x = np.mgrid[0:h, 0:w]
    disc = ((y - h / 2) ** 2 + (x - w / 3) ** 2) < (min(h, w) / 5) ** 2
    rgb = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), ((x // 8 + y // 8) % 2) * 200], axis=-1)
    rgb[disc] = (230, 40, 90)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def sample_input(loaded: LoadedModel) -> torch.Tensor:
    """sample_image through the Space's own preprocessing for this model: (1, 3, H, W) on the model's device."""
    return prepare_pil(loaded, sample_image(loaded.input_size)).image


def verify_folder(
    folder: str | Path,
    *,
    arch: str,
    weights: str | Path,
    model_args: Mapping[str, Any] | None = None,
    weights_key: str | None = None,
    atol: float = ATOL,
) -> Verification:
    """Prove a folder before it is uploaded.

    The Space's loader rebuilds the model from the folder alone (config.json + model.safetensors, strict load, task
    metadata validated); the same architecture is built independently and loaded from the raw checkpoint; both run
    on a fixed synthetic image through the Space's preprocessing and must agree within atol. The card must parse
    with valid Hub metadata.

    Raises:
        VerificationError: extra or missing files, a bad card, or outputs that differ.
        ExplainerError: the loader refuses the folder (its message says why).
    """
    folder = Path(folder)
    present = sorted(p.name for p in folder.iterdir())
    if present != sorted(FOLDER_FILES):
        raise VerificationError(f"{folder} holds {present}; expected exactly {sorted(FOLDER_FILES)}")
    check_card(folder / README_NAME)
    # cache=False builds afresh and leaves the app's in-memory cache alone.
    loaded = loading.load_model(parse_source(str(folder), allow_local=True), device=torch.device("cpu"), cache=False)
    base_arch = timm.models.split_model_name_tag(arch)[0]
    if loaded.architecture != base_arch:
        raise VerificationError(f"config.json names {loaded.architecture}, expected {base_arch}")
    reference = build_model(arch, loaded.task.num_outputs, model_args)
    reference.load_state_dict(
        fit_leading_component(read_checkpoint(weights, key=weights_key).state_dict, reference.state_dict()),
        strict=True,
    )
    image = sample_input(loaded)
    with torch.no_grad():
        got = loaded.model(image).float()
        want = reference(image).float()
    if got.shape != want.shape:
        raise VerificationError(
            f"the folder's model gives outputs of shape {list(got.shape)}, the checkpoint {list(want.shape)}"
        )
    diff = float((got - want).abs().max())
    if not math.isfinite(diff) or diff > atol:
        raise VerificationError(
            f"the folder's model differs from the checkpoint by up to {diff:.3g} (allowed "
            f"{atol:g}) on the sample image; check --model-args and --data-config"
        )
    return Verification(
        architecture=loaded.architecture,
        task=loaded.task.kind,
        num_outputs=loaded.task.num_outputs,
        input_size=loaded.input_size,
        max_abs_diff=diff,
        outputs=tuple(float(v) for v in got[0]),
    )
