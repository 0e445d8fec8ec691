"""README's plain-HTTP section, run as written: its curl commands (between the curl-commands markers) go through bash
against the real server, with only the URL and the image path substituted, and print what the README says."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers_app import COFFEE
from PIL import Image
from servers import ROOT, running_app

pytestmark = pytest.mark.slow
MARKERS = re.compile(r"<!-- curl-commands:start -->\n```bash\n(.*?)```\n<!-- curl-commands:end -->", re.S)


def readme_commands() -> str:
    """The bash block between the markers, exactly as README.md shows it."""
    found = MARKERS.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    if len(found) != 1:
        raise AssertionError(f"README.md should hold one curl-commands block, found {len(found)}")
    return str(found[0])


def substituted(commands: str, url: str, image: Path) -> str:
    """The same commands with only the URL= and IMAGE= lines pointing at this server and this photo."""
    lines = commands.splitlines()
    if not (lines[0].startswith("URL=") and lines[1].startswith("IMAGE=")):
        raise AssertionError(f"the block should start with URL= and IMAGE= lines, got {lines[:2]}")
    return "\n".join([f"URL={url.rstrip('/')}", f"IMAGE={image}", *lines[2:]]) + "\n"


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    if shutil.which("curl") is None or shutil.which("jq") is None:
        pytest.skip("curl and jq are needed (apt-get install curl jq)")
    work = tmp_path_factory.mktemp("curl")
    with running_app() as url:
        script = substituted(readme_commands(), url, COFFEE)
        (work / "readme.sh").write_text(script, encoding="utf-8")
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "readme.sh"], cwd=work, capture_output=True, text=True, timeout=120
        )
    return done, work


def test_the_readme_block_is_only_curl_jq_and_shell_and_names_both_endpoints() -> None:
    commands = readme_commands()
    assert "/gradio_api/upload" in commands and "/gradio_api/call/predict" in commands
    assert "/gradio_api/call/gradcam" in commands and "python" not in commands


def test_the_readme_curl_commands_predict_espresso_and_save_a_scored_grad_cam_overlay(ran) -> None:
    done, work = ran
    assert done.returncode == 0, done.stderr
    decision, badge = done.stdout.splitlines()[:2]
    assert decision == "espresso", done.stdout
    assert re.match(r"(✅ \*\*PASS\*\*|⚠️ \*\*WARN\*\*|❌ \*\*FAIL\*\*) · ", badge), badge
    overlay = np.asarray(Image.open(work / "gradcam.png").convert("RGB"))
    assert overlay.shape[0] >= 64 and overlay.shape[1] >= 64 and overlay.std() > 10


def test_the_readme_says_what_the_commands_print(ran) -> None:
    done, _ = ran
    badge = done.stdout.splitlines()[1]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "It prints `espresso`, then the badge (`" + badge.split(" · ")[0] + " · ...`)" in readme, badge
