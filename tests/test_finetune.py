"""Corrections end to end on the Fashion-MNIST demo, at test size (bench/bench_corrections.py measures the goals):
50 corrections of the demo's most common confusion through the intake, `finetune.py export`, `finetune.py train
--push` to the local Hub stand-in, and the real app loading that revision by id@revision and reading them right."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from hub_stub import HubStub
from PIL import Image
from servers import ROOT, running_app

import finetune
from explainers.corrections import CorrectionStore

sys.path.insert(0, str(ROOT / "bench"))
import bench_corrections as bench

pytestmark = pytest.mark.slow
REPO, BRANCH = "acme/fashion", "corrections-1"
# Seconds-sized: the head alone, on the demo's own 1000 training images (tests/support/fashion.py), 1000 test images.
FAST = ["--head-epochs", "5", "--last-stage-epochs", "0", "--correction-weight", "4"]


@pytest.fixture(scope="module")
def published(fashion_demo, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("corrections-e2e")
    with HubStub() as stub, pytest.MonkeyPatch.context() as patch:
        # huggingface_hub read the test runner's HF_HUB_OFFLINE=1 at import; the push goes to 127.0.0.1 only.
        patch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
        patch.setenv("HF_TOKEN", "hf_stub")
        push = ["--push", REPO, "--revision", BRANCH, "--endpoint", stub.url]
        figures = bench.run(fashion_demo, work, test_pool=1000, extra=0, sample=1000, train_args=FAST + push)
        yield work, figures, stub


def test_fifty_corrections_fix_most_of_the_held_aside_confusion_and_keep_the_rest(published) -> None:
    _, figures, _ = published
    assert figures["corrections"] == 50 and figures["confusion_held"] >= 10
    assert figures["fixed"] >= 0.5, figures  # the head alone, in seconds; the bench's schedule reaches >= 80%
    assert figures["rest_before"] - figures["rest_after"] <= 0.05, figures
    fit = figures["report"]["evaluation"]["corrections"]
    assert fit["n"] == 50 and fit["before"] == 0.0 and fit["after"] >= 0.9


def test_the_fine_tune_is_in_the_card_the_report_and_the_apps_store(published) -> None:
    work, figures, _ = published
    card = (work / "finetuned" / "model" / "README.md").read_text()
    held = figures["report"]["evaluation"]["held-aside original"]
    assert "## Fine-tuned on visitors' corrections" in card
    assert f"| held-aside original | {held['n']} | accuracy | {held['before']:.3f} | {held['after']:.3f} |" in card
    report = json.loads((work / "finetuned" / "report.json").read_text())
    assert report["published"]["revision"] == BRANCH and report["plan"]["head_epochs"] == 5
    store = CorrectionStore(work / "data")
    assert store.count(pending_only=True) == 0 and store.count() == 50
    assert store.last_finetune()["revision"] == report["published"]["commit"]


def test_the_cli_status_and_a_second_export_of_pending_corrections(published, capsys, tmp_path: Path) -> None:
    work, _, _ = published
    assert finetune.main(["status", "--data-dir", str(work / "data")]) == 0
    assert "0 corrections pending, 50 stored" in capsys.readouterr().out
    code = finetune.main(["export", "--out", str(tmp_path / "again"), "--pending", "--data-dir", str(work / "data")])
    assert code == 1 and "no correction with an image to export" in capsys.readouterr().err


def test_the_app_loads_the_pushed_revision_by_id_and_reads_the_corrections_right(
    published, fashion_demo, tmp_path: Path
) -> None:
    work, figures, stub = published
    right, wrong = figures["pair"]
    store = CorrectionStore(work / "data")
    corrected = [r for r in store.records() if r.answer["label"] == right][:5]
    env = stub.client_env(tmp_path / "hf_home") | {"HF_HUB_OFFLINE": "0", "XAI_DATA_DIR": str(tmp_path / "data")}
    with running_app(env=env, args=["--model", str(fashion_demo.model_dir)]) as url:
        client = Client(url, verbose=False)
        for record in corrected:
            path = tmp_path / f"{record.id}.png"
            path.write_bytes(record.image or b"")
            _, _, base = client.predict(handle_file(str(path)), "default", "", api_name="/predict")
            _, _, tuned = client.predict(handle_file(str(path)), REPO, BRANCH, api_name="/predict")
            assert base["decision"] == wrong and tuned["decision"] == right
            assert tuned["model_id"] == REPO and tuned["revision"] == figures["report"]["published"]["commit"]


def test_an_export_of_another_task_is_refused_with_what_would_fit(fashion_demo, tmp_path: Path, capsys) -> None:
    (tmp_path / "export").mkdir()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(buffer := io.BytesIO(), format="PNG")
    (tmp_path / "export" / "a.png").write_bytes(buffer.getvalue())
    row = {"file_name": "a.png", "id": "x", "values": [1.0, 2.0], "label": None}
    (tmp_path / "export" / "metadata.jsonl").write_text(json.dumps(row) + "\n")
    args = ["train", "--model", str(fashion_demo.model_dir), "--corrections", str(tmp_path / "export")]
    assert finetune.main([*args, "--out", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data")]) == 1
    assert "no correction in" in capsys.readouterr().err and not (tmp_path / "out").exists()
