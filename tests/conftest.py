"""Test-wide settings: one torch thread (the CPU is shared), quiet offline libraries, GPU tests skipped without CUDA."""

from __future__ import annotations

import os

# Set before huggingface_hub / gradio are imported anywhere in the test process.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from collections.abc import Iterator
from typing import Any

import pytest
import torch

torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fashion_demo(tmp_path_factory: pytest.TempPathFactory):
    """The Fashion-MNIST similar-cases demo (model, gallery, held-aside test images), built once per session."""
    from fashion import build_small_demo

    return build_small_demo(tmp_path_factory.mktemp("fashion-demo"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright, launched once per browser test module (each test opens its own pages).

    Module scope, not session: while sync Playwright runs, its event loop is the thread's running loop, and the MCP
    tests' asyncio.run() would then refuse to start.
    """
    from helpers_app import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM}; `bash scripts/test.sh` installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
