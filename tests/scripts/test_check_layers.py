"""The layer check: green on this repository, and red for each kind of wrong edge it is meant to catch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from servers import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import check_layers


def test_the_repository_keeps_its_layers():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_layers.py")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def test_a_clean_tree_passes(tmp_path):
    root = _tree(
        tmp_path,
        {
            "explainers/__init__.py": "from . import errors\n",
            "explainers/errors.py": "",
            "explainers/models/__init__.py": "",
            "explainers/models/loading.py": "from ..errors import *\n",
            "ui/__init__.py": "",
            "ui/tab.py": "import gradio\nfrom explainers.models import loading\n",
            "app.py": "import ui.tab\n",
        },
    )
    assert check_layers.check(root) == []


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"explainers/a.py": "from . import b\n", "explainers/b.py": "from . import a\n"},
            "import cycle: explainers.a -> explainers.b -> explainers.a",
        ),
        ({"explainers/methods/m.py": "import gradio as gr\n"}, "explainers/ never imports gradio"),
        ({"publishing/card.py": "from gradio import Blocks\n"}, "publishing/ never imports gradio"),
        (
            {
                "explainers/models/loading.py": "from explainers.methods import gradcam\n",
                "explainers/methods/gradcam.py": "",
            },
            "explainers.models.loading (layer 1) imports explainers.methods.gradcam (layer 3)",
        ),
        (
            {
                "explainers/trust/report.py": "def f():\n    from ..models import tasks\n",
                "explainers/models/tasks.py": "",
            },
            "imports explainers.models.tasks inside a function",
        ),
        (
            {"publishing/hub.py": "from explainers import pipeline\n", "explainers/pipeline.py": ""},
            "publishing.hub may only import",
        ),
        ({"explainers/big.py": "x = 1\n" * 401}, "explainers/big.py: 401 lines (at most 400)"),
        ({"app.py": "x = 1\n" * 251}, "app.py: 251 lines (at most 250)"),
    ],
    ids=[
        "cycle",
        "gradio-in-explainers",
        "gradio-in-publishing",
        "upward-edge",
        "local-import",
        "publishing-reach",
        "long-module",
        "long-entry-point",
    ],
)
def test_each_wrong_edge_is_reported(tmp_path, files, expected):
    root = _tree(tmp_path, {"explainers/__init__.py": "", **files})
    problems = check_layers.check(root)
    assert any(expected in p for p in problems), problems
