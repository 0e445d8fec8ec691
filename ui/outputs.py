"""Files the tabs return (.npy maps, receipts, counterfactual PNGs): one folder per request, removed after an hour."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

OUTPUTS = Path(tempfile.gettempdir()) / "xai-outputs"
OUTPUT_TTL_S = 3600


def folder() -> Path:
    """A fresh folder for one request's files, under one parent whose entries older than OUTPUT_TTL_S are removed."""
    OUTPUTS.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in OUTPUTS.iterdir():
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > OUTPUT_TTL_S:
                shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=OUTPUTS))


def save_npy(values: np.ndarray, stem: str) -> str:
    """A raw map or change as float32 ``<stem>.npy``; its path."""
    path = folder() / f"{stem}.npy"
    np.save(path, values.astype(np.float32))
    return str(path)


def save_receipt(receipts: list[dict[str, Any]] | dict[str, Any], stem: str) -> str:
    """One receipt (or a Compare run's list) as ``receipt-<stem>.json``; its path."""
    path = folder() / f"receipt-{stem}.json"
    path.write_text(json.dumps(receipts, indent=2, default=str))
    return str(path)


def save_png(rgb: np.ndarray, name: str, *, compress_level: int = 6) -> str:
    """An RGB picture as ``<name>.png``; its path. compress_level 1 encodes an overlay ~3.5x faster than PIL's 6 for
    a file ~8% larger (measured on the example photos): the choice for pictures a user is waiting for.
    """
    path = folder() / f"{name}.png"
    Image.fromarray(rgb).save(path, compress_level=compress_level)
    return str(path)
