"""The Fashion-MNIST demo at test size, built by scripts/build_demo_fashion.py (once per session, see conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import build_demo_fashion  # noqa: E402 - a script, importable once scripts/ is on the path

# ~15 s of CPU on one thread; the first 40 held-aside images are what the end-to-end tests look at.
TRAIN, TEST = 1500, 40


def build_small_demo(out: Path) -> build_demo_fashion.Demo:
    """The demo at test size, quietly; skips the test when Debian's Fashion-MNIST is not installed."""
    if not all((build_demo_fashion.DATA / f"{s}-labels-idx1-ubyte.gz").is_file() for s in ("train", "t10k")):
        pytest.skip("Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist (scripts/test.sh does)")
    return build_demo_fashion.build_demo(out, train=TRAIN, test=TEST, examples=1, log=lambda line: None, bar=False)
