"""The automatic retrain inside the real app (XAI_RETRAIN_AFTER=2): /correct returns before the job starts, the job is
a nice-19 child of the app, the app keeps answering while it runs, and a kill -9 of the job leaves the app serving
the same model, no candidate, and the reason in the owner's state. Then a job that finishes: its candidate is not
served until the owner presses "Serve this candidate" in the page (chromium)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from gradio_client import Client, handle_file
from helpers_app import ARTIFACTS, call
from servers import running_app, server_process

pytestmark = pytest.mark.slow


def state(data: Path) -> dict[str, Any]:
    path = data / "retrain" / "state.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def wait_for(check, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


@pytest.fixture(scope="module")
def killed(fashion_demo, tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("retrain-app")
    env = {"XAI_DATA_DIR": str(data), "XAI_RETRAIN_AFTER": "2", "XAI_RETRAIN_ARGS": "--head-epochs 3"}
    pictures = sorted(Path(fashion_demo.test).rglob("*.png"))[:4]
    with running_app(env=env, args=["--model", str(fashion_demo.model_dir), "--owner"]) as url:
        app = server_process(url)
        client = Client(url, verbose=False)
        seconds, summaries = [], []
        for picture in pictures[:2]:
            clock = time.monotonic()
            summaries.append(call(client, "correct", [handle_file(str(picture)), "default", "", "Shirt", True])[1])
            seconds.append(time.monotonic() - clock)
        job = wait_for(lambda: (state(data).get("job") or {}).get("step") == "train" and state(data)["job"])
        child = psutil.Process(job["pid"])
        facts = {"nice": child.nice(), "parent": child.ppid(), "app": app.pid, "correct_s": seconds}
        clock = time.monotonic()
        _, _, predicted = client.predict(handle_file(str(pictures[0])), "default", "", api_name="/predict")
        facts["predict_s"] = time.monotonic() - clock
        os.kill(job["pid"], signal.SIGKILL)
        wait_for(lambda: state(data).get("job") is None and state(data).get("last"))
        after = call(client, "correct", [handle_file(str(pictures[2])), "default", "", "Shirt", True])[1]
        _, _, again = client.predict(handle_file(str(pictures[0])), "default", "", api_name="/predict")
        facts["alive"] = app.is_running() and server_process(url).pid == app.pid
        yield {
            "data": data,
            "job": job,
            "facts": facts,
            "summaries": [*summaries, after],
            "predicted": (predicted, again),
            "server": (url, client, pictures[3]),  # the owner's test goes on with the same server
        }


def test_correct_returns_before_the_job_and_the_job_is_a_nice_19_child_of_the_app(killed) -> None:
    job, facts, summaries = killed["job"], killed["facts"], killed["summaries"][:2]
    assert facts["nice"] == 19 and facts["parent"] == facts["app"] and job["pid"] != facts["app"], facts
    assert job["pending"] == 2 and all(s["answer"]["label"] == "Shirt" for s in summaries)
    assert max(facts["correct_s"]) < 10.0, facts  # the job (tens of seconds here) is never in the request's path


def test_the_app_answers_while_the_job_runs_and_after_it_is_killed(killed) -> None:
    facts, (predicted, again) = killed["facts"], killed["predicted"]
    assert facts["predict_s"] < 10.0 and facts["alive"], facts
    assert predicted == again and predicted["decision"]


def test_a_killed_job_leaves_no_candidate_the_same_model_and_says_why(killed, fashion_demo) -> None:
    data, job, summaries = killed["data"], killed["job"], killed["summaries"]
    last = state(data)["last"]
    assert last["status"] == "failed" and last["job"] == job["id"] and last["reason"] == "train was killed by SIGKILL"
    assert not (data / "retrain" / "candidates").exists() and not any((data / "retrain" / "work").iterdir())
    weights = {s["model"]["weights_sha256"] for s in summaries}
    assert weights == {fashion_demo.info["weights_sha256"]} and state(data).get("served") is None
    # Its corrections stay pending; the failure is the baseline, so the third correction alone started nothing.
    assert state(data)["baseline"] == 2


@pytest.mark.browser
def test_a_finished_candidate_is_served_only_when_the_owner_presses_serve(killed, fashion_demo, browser) -> None:
    data, killed_job, (predicted, _) = killed["data"], killed["job"], killed["predicted"]
    url, client, picture = killed["server"]
    call(client, "correct", [handle_file(str(picture)), "default", "", "Shirt", True])  # the second new one: a job

    def finished() -> Any:
        now = state(data)
        return now.get("job") is None and now["last"]["job"] != killed_job["id"] and now["last"]

    last = wait_for(finished, timeout=300)
    assert last["status"] == "ok", last
    weights = hashlib.sha256(Path(last["folder"], "model.safetensors").read_bytes()).hexdigest()
    first = sorted(Path(fashion_demo.test).rglob("*.png"))[0]
    assert client.predict(handle_file(str(first)), "default", "", api_name="/predict")[2] == predicted  # not swapped
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    try:
        page.set_default_timeout(60_000)
        page.goto(url)
        page.get_by_text("Owner: corrections and fine-tunes").click()
        serve = page.get_by_role("button", name="Serve this candidate")
        assert not serve.is_visible()  # nothing offered before a refresh
        page.get_by_role("button", name="Refresh", exact=True).click()
        page.get_by_text(f"Candidate {last['candidate']}").first.wait_for()
        serve.click()
        page.get_by_text(f"Serving candidate {last['candidate']}").first.wait_for()
        (ARTIFACTS / "screenshots").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "screenshots" / "owner_retrain.png"), full_page=True)
    finally:
        page.close()
    now = client.predict(handle_file(str(first)), "default", "", api_name="/predict")[2]
    assert now["top"] != predicted["top"], now  # the fine-tuned head answers now
    served = call(client, "correct", [handle_file(str(picture)), "default", "", "Shirt", True])[1]  # 1 new: no job
    assert served["model"]["weights_sha256"] == weights != fashion_demo.info["weights_sha256"]
    assert state(data)["served"]["candidate"] == last["candidate"] and state(data)["job"] is None
