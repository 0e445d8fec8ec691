"""Reading a checkpoint's state dict: safetensors, or torch.load(weights_only=True); wrappers and prefixes undone."""

from __future__ import annotations

import argparse
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch

from .errors import UnsafeCheckpointError, UploadError

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
# Where common training scripts keep the weights: plain torch, timm train.py (+ EMA), DeiT/MAE, Lightning, fairseq.
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module", "ema", "state_dict_ema", "model_ema")
# DataParallel/DistributedDataParallel and torch.compile wrap the module and prefix every key.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


@dataclass(frozen=True)
class Checkpoint:
    """A state dict read from a weights file, and how it was unwrapped."""

    state_dict: dict[str, torch.Tensor]
    path: Path
    key: str | None = None
    stripped: tuple[str, ...] = ()
    other_keys: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for the command line: how many tensors, from where, and what was unwrapped."""
        parts = [f"{len(self.state_dict)} tensors from {self.path.name}"]
        if self.key:
            parts.append(f"under {self.key!r}")
        if self.stripped:
            parts.append("without the prefix " + " + ".join(repr(p) for p in self.stripped))
        if self.other_keys:
            parts.append(f"(also found {', '.join(map(repr, self.other_keys))}; pick one with --weights-key)")
        return " ".join(parts)


def read_checkpoint(path: str | Path, *, key: str | None = None) -> Checkpoint:
    """Read a state dict from .safetensors, or from a PyTorch checkpoint without ever fully unpickling it.

    PyTorch files are read with ``torch.load(weights_only=True)``, which only rebuilds tensors and plain containers
    (plus argparse.Namespace, as timm's train.py stores its args in checkpoints). Common wrappers are unwrapped: a
    ``state_dict`` / ``model_state_dict`` / ``model`` / ``ema`` ... entry, and ``module.`` / ``_orig_mod.`` prefixes.

    Args:
        path: the weights file.
        key: the entry holding the weights (e.g. ``state_dict_ema``); found automatically when left out.

    Raises:
        UnsafeCheckpointError: the file needs full unpickling (it holds custom objects).
        UploadError: the file is missing, of an unknown kind, unreadable, or holds no state dict.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise UploadError(f"--weights {path} does not exist")
    if path.suffix == ".safetensors":
        try:
            raw: Any = safetensors.torch.load_file(str(path), device="cpu")
        except (safetensors.SafetensorError, OSError, ValueError) as exc:
            raise UploadError(f"{path} is not a readable safetensors file ({exc})") from exc
    elif path.suffix in CHECKPOINT_SUFFIXES:
        raw = _torch_load_weights_only(path)
    else:
        raise UploadError(
            f"--weights {path.name}: expected a .safetensors file or a PyTorch checkpoint "
            f"({', '.join(CHECKPOINT_SUFFIXES)})"
        )
    state, used, others = _unwrap(raw, key, path)
    state, stripped = _strip_prefixes(state)
    return Checkpoint(state, path, used, stripped, others)


def _torch_load_weights_only(path: Path) -> Any:
    try:
        # timm's train.py stores its argparse.Namespace in checkpoints: a plain attribute bag, safe to rebuild.
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        what = f" (it holds {found.group(1)})" if found else ""
        raise UnsafeCheckpointError(
            f"{path.name} cannot be read as plain tensors{what}: loading it would need full unpickling, which can run "
            "arbitrary code, so it is refused. Where the checkpoint was made, save only the weights: "
            "torch.save(model.state_dict(), 'weights.pth') or safetensors.torch.save_file(model.state_dict(), "
            "'model.safetensors'), and pass that file."
        ) from exc
    except (RuntimeError, OSError, EOFError) as exc:
        raise UploadError(f"{path} is not a readable PyTorch checkpoint ({exc})") from exc


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def _unwrap(raw: Any, key: str | None, path: Path) -> tuple[dict[str, torch.Tensor], str | None, tuple[str, ...]]:
    if key is not None:
        if not isinstance(raw, Mapping) or key not in raw:
            keys = sorted(map(str, raw)) if isinstance(raw, Mapping) else []
            raise UploadError(f"--weights-key {key!r} is not in {path.name}; its top-level keys are {keys[:20]}")
        inner, _, _ = _unwrap(raw[key], None, path)
        return inner, key, ()
    if _is_state_dict(raw):
        return dict(raw), None, ()
    if isinstance(raw, Mapping):
        found = [k for k in WRAPPER_KEYS if k in raw and isinstance(raw[k], Mapping)]
        for k in found:
            if _is_state_dict(raw[k]):
                return dict(raw[k]), k, tuple(f for f in found if f != k)
            nested = [n for n in WRAPPER_KEYS if isinstance(raw[k].get(n), Mapping) and _is_state_dict(raw[k][n])]
            if nested:  # e.g. {"ema": {"module": {...}}}
                return dict(raw[k][nested[0]]), f"{k}.{nested[0]}", tuple(f for f in found if f != k)
        keys = sorted(map(str, raw))[:20]
        raise UploadError(
            f"{path.name} holds no state dict (a mapping of names to tensors) under "
            f"{', '.join(WRAPPER_KEYS)}; its top-level keys are {keys}. Pass --weights-key KEY"
        )
    raise UploadError(f"{path.name} holds a {type(raw).__name__}, not a state dict (a mapping of names to tensors)")


def _strip_prefixes(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], tuple[str, ...]]:
    stripped: list[str] = []
    while True:
        prefix = next((p for p in WRAPPER_PREFIXES if all(k.startswith(p) for k in state)), None)
        if prefix is None:
            return state, tuple(stripped)
        state = {k[len(prefix) :]: v for k, v in state.items()}
        stripped.append(prefix)


def fit_leading_component(state: dict[str, torch.Tensor], expected: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Drop one leading name component shared by every key (Lightning's "model.", "backbone.") if that fits exactly."""
    if set(state) == set(expected):
        return state
    heads = {k.split(".", 1)[0] for k in state}
    if len(heads) == 1 and all("." in k for k in state):
        trimmed = {k.split(".", 1)[1]: v for k, v in state.items()}
        if set(trimmed) == set(expected):
            return trimmed
    return state
