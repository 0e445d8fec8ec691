"""The automatic retrain on the Fashion-MNIST demo: it starts at N new corrections, runs `finetune.py` at nice 19 in a
subprocess, renames a whole candidate (with before/after figures) into place, and serves it only when the owner says
so; a train that fails leaves no candidate, the serving model untouched, and says why."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

import explainers as xai
from explainers.corrections import CorrectionStore, Intake
from explainers.errors import CorrectionError, OptionError
from finetuning.retrain import Retrainer, Settings, served_candidate
from ui import common, corrections

pytestmark = pytest.mark.slow
# Seconds-sized: the head alone on 200 of the demo's gallery images (40 held aside for the before/after figures).
FAST = ("--sample", "200", "--head-epochs", "3")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def submit(store: CorrectionStore, loaded: xai.LoadedModel, pictures: list[Path], answer: str = "Shirt") -> None:
    intake = Intake(store)
    for i, picture in enumerate(pictures):
        intake.submit(loaded, picture.read_bytes(), answer, consent=True, visitor=f"visitor-{i}")


@pytest.fixture(scope="module")
def demo(fashion_demo) -> tuple[xai.LoadedModel, list[Path]]:
    loaded = xai.load_model(xai.parse_source(str(fashion_demo.model_dir), allow_local=True))
    return loaded, sorted(Path(fashion_demo.test).rglob("*.png"))


@pytest.fixture(scope="module")
def retrained(demo, fashion_demo, tmp_path_factory: pytest.TempPathFactory):
    """Three corrections with N = 3: the third starts the job, watched while it runs (the nice value of its step)."""
    loaded, pictures = demo
    store = CorrectionStore(tmp_path_factory.mktemp("retrain-data"))
    retrainer = Retrainer(store, Settings(after=3, original=str(fashion_demo.references), train_args=FAST))
    source = str(fashion_demo.model_dir)
    submit(store, loaded, pictures[:2])
    early = retrainer.after_correction(source, loaded.model_id)
    submit(store, loaded, pictures[2:3])
    started: list[str | None] = []
    thread = threading.Thread(target=lambda: started.append(retrainer.after_correction(source, loaded.model_id)))
    thread.start()
    seen: dict[str, int] = {}
    while thread.is_alive():
        job = retrainer.status(loaded.model_id)["job"]
        if job and job.get("pid"):
            with contextlib.suppress(psutil.NoSuchProcess):  # between two steps
                seen[job["step"]] = psutil.Process(job["pid"]).nice()
        time.sleep(0.1)
    thread.join()
    return store, retrainer, early, started[0], seen


def test_fewer_than_n_new_corrections_start_nothing(retrained) -> None:
    _, _, early, _, _ = retrained
    assert early is None


def test_the_nth_correction_runs_export_and_train_at_nice_19_and_leaves_a_whole_candidate(
    retrained, fashion_demo
) -> None:
    _, retrainer, _, job, seen = retrained
    assert job and seen == {"export": 19, "train": 19}
    status = retrainer.status("model")
    last = status["last"]
    assert status["job"] is None and last["status"] == "ok" and last["candidate"] == job, last
    candidate = retrainer.folder / "candidates" / job
    assert sorted(p.name for p in candidate.iterdir()) == ["log.txt", "model", "report.json"]
    assert {"config.json", "model.safetensors", "README.md"} <= {p.name for p in (candidate / "model").iterdir()}
    assert not any((retrainer.folder / "work").iterdir())  # the work folder is gone, nothing half-written beside it
    held = last["report"]["evaluation"]["held-aside original"]
    assert held["n"] == 40 and 0.0 <= held["before"] <= 1.0 and 0.0 <= held["after"] <= 1.0
    card = (candidate / "model" / "README.md").read_text()
    assert f"| held-aside original | 40 | accuracy | {held['before']:.3f} | {held['after']:.3f} |" in card


def test_the_corrections_it_used_are_no_longer_new_and_the_serving_model_was_not_swapped(
    retrained, fashion_demo
) -> None:
    store, retrainer, _, _, _ = retrained
    status = retrainer.status("model")
    assert status["new"] == 0 and store.count(pending_only=True) == 0 and store.last_finetune() is not None
    assert status["served"] is None and served_candidate(store.folder, str(fashion_demo.model_dir)) is None
    assert sha256(fashion_demo.model_dir / "model.safetensors") == fashion_demo.info["weights_sha256"]


def test_the_owner_sees_the_candidate_with_its_figures_and_serves_it_with_the_button(
    retrained, fashion_demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, retrainer, _, job, _ = retrained
    startup = xai.parse_source(str(fashion_demo.model_dir), allow_local=True)
    monkeypatch.setenv("XAI_DATA_DIR", str(store.folder))
    corrections.use_intake(Intake(store))
    corrections.start(startup, owner=True, retrain_after=3)
    monkeypatch.setattr(common, "_startup", common._startup)  # the built-in default again after the test
    common.set_startup_source(startup)
    try:
        status, button, offered = corrections.on_owner_refresh()
        assert offered == job and button["visible"] is True
        assert f"✅ Candidate `{job}`" in status and "| held-aside original | 40 | accuracy |" in status
        assert "Automatic retraining: **0** of 3 new corrections of `model`" in status
        assert common.model("default", "").weights_sha256 == fashion_demo.info["weights_sha256"]
        status, button, offered = corrections.on_serve_candidate(job)
        served = common.model("default", "")
        assert served.weights_sha256 == sha256(retrainer.folder / "candidates" / job / "model" / "model.safetensors")
        assert served.weights_sha256 != fashion_demo.info["weights_sha256"]
        assert f"Serving candidate `{job}`" in status and offered == "" and button["visible"] is False
        # A restart with the same --model serves the owner's choice; another --model is not overridden.
        again = corrections.start(startup, owner=True)
        assert again is not None and Path(again.ref) == retrainer.folder / "candidates" / job / "model"
        other = xai.parse_source("default", allow_local=True)
        assert corrections.start(other, owner=True) == other
    finally:
        corrections.start(None, owner=False)
        corrections.use_intake(None)


def test_serving_a_candidate_that_does_not_exist_is_refused_and_changes_nothing(retrained) -> None:
    _, retrainer, _, _, _ = retrained
    before = retrainer.status()["served"]
    with pytest.raises(CorrectionError, match=re.escape("no finished candidate '../x'")):
        retrainer.accept("../x", "default")
    assert retrainer.status()["served"] == before


def test_a_train_that_exits_non_zero_leaves_no_candidate_the_model_untouched_and_says_why(
    demo, fashion_demo, tmp_path: Path
) -> None:
    loaded, pictures = demo
    store = CorrectionStore(tmp_path)
    bad = ("--head-epochs", "0", "--last-stage-epochs", "0")  # train refuses a plan that trains nothing
    retrainer = Retrainer(store, Settings(after=2, train_args=bad))
    submit(store, loaded, pictures[:2])
    job = retrainer.after_correction(str(fashion_demo.model_dir), loaded.model_id)
    last = retrainer.status("model")["last"]
    assert job and last["status"] == "failed" and last["job"] == job
    assert last["reason"].startswith("train exited with status 1: error:") and "epochs" in last["reason"], last
    assert not (retrainer.folder / "candidates").exists() and not any((retrainer.folder / "work").iterdir())
    assert store.count(pending_only=True) == 2 and store.last_finetune() is None
    assert sha256(fashion_demo.model_dir / "model.safetensors") == fashion_demo.info["weights_sha256"]
    # The failed corrections do not start it again on the next one: it waits for N new ones.
    submit(store, loaded, pictures[2:3])
    assert retrainer.status("model")["new"] == 1
    assert retrainer.after_correction(str(fashion_demo.model_dir), loaded.model_id) is None


def test_a_job_left_running_by_a_stopped_app_is_stopped_recorded_as_interrupted_and_its_work_removed(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "retrain"
    out = folder / "work" / "abc" / "out"
    (out / "model").mkdir(parents=True)
    (out / "model" / "model.safetensors").write_bytes(b"half")
    sleep = [sys.executable, "-c", "import time; time.sleep(120)"]
    orphan = subprocess.Popen([*sleep, "--out", str(out)])  # as the stopped app's train step
    bystander = subprocess.Popen([*sleep, "--out", str(tmp_path / "elsewhere")])  # not this job's: left alone
    try:
        job = {"id": "abc", "started": "2026-01-01T00:00:00+00:00", "source": "x", "step": "train", "pid": orphan.pid}
        (folder / "state.json").write_text(json.dumps({"job": job}))
        status = Retrainer(CorrectionStore(tmp_path), Settings(after=1)).status()
        assert orphan.wait(timeout=10) == -signal.SIGKILL and bystander.poll() is None
    finally:
        orphan.kill()
        bystander.kill()
        bystander.wait()
    assert status["job"] is None and status["last"]["status"] == "failed"
    assert "interrupted: the app stopped during its train step" in status["last"]["reason"]
    assert not (folder / "work").exists() and not (folder / "candidates").exists()


@pytest.mark.parametrize(("value", "words"), [("ten", "whole number"), ("-1", "0 (off) or more")])
def test_a_bad_xai_retrain_after_is_refused_with_what_is_expected(
    value: str, words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XAI_RETRAIN_AFTER", value)
    with pytest.raises(OptionError, match=re.escape(words)):
        Settings.from_env()


def test_the_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XAI_RETRAIN_AFTER", "10")
    monkeypatch.setenv("XAI_RETRAIN_ORIGINAL", "/data/train")
    monkeypatch.setenv("XAI_RETRAIN_ARGS", "--head-epochs 5 --correction-weight '4'")
    assert Settings.from_env() == Settings(10, "/data/train", ("--head-epochs", "5", "--correction-weight", "4"))
    assert Settings.from_env(after=2).after == 2


def test_the_owner_status_shows_a_dash_for_a_set_without_images(tmp_path: Path) -> None:
    store = CorrectionStore(tmp_path)
    empty = {"n": 0, "metric": "accuracy", "before": None, "after": None}  # no --original: nothing held aside
    store.record_finetune("model", None, {"corrections": 2, "evaluation": {"held-aside original": empty}}, [])
    corrections.use_intake(Intake(store))
    try:
        status = corrections.on_owner_status()
    finally:
        corrections.use_intake(None)
    assert "| held-aside original | 0 | accuracy | — | — |" in status
    assert "Automatic retraining is off (`XAI_RETRAIN_AFTER=N`" in status


def test_stop_at_the_apps_exit_kills_the_running_step_and_the_job_says_so(demo, tmp_path: Path) -> None:
    loaded, pictures = demo
    store = CorrectionStore(tmp_path)
    submit(store, loaded, pictures[:1])
    slow = (sys.executable, "-c", "import time; time.sleep(120)")  # stands in for finetune.py: export never ends
    retrainer = Retrainer(store, Settings(after=1), command=slow)
    thread = threading.Thread(target=retrainer.after_correction, args=("x", loaded.model_id))
    thread.start()
    try:
        pid = wait_for_pid(retrainer)
        assert psutil.Process(pid).nice() == 19
    finally:
        retrainer.stop()
        thread.join(timeout=30)
    last = retrainer.status()["last"]
    assert last["status"] == "failed" and last["reason"] == "export was killed by SIGKILL", last
    assert retrainer.status()["job"] is None and not any((retrainer.folder / "work").iterdir())


def wait_for_pid(retrainer: Retrainer, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = retrainer.status()["job"]
        if job and job.get("pid"):
            return int(job["pid"])
        time.sleep(0.05)
    raise AssertionError(f"no step started within {timeout} s")
