"""Test-wide settings: one torch thread (the CPU is shared), quiet offline libraries, GPU tests skipped without CUDA."""

from __future__ import annotations

import os

# Set before huggingface_hub / gradio are imported anywhere in the test process.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

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
