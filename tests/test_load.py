"""The app under load: many concurrent gradio_client callers across every endpoint, a flooded tiny queue, and leaks.

* Concurrency: 40 callers at once (threads, one Client each) over every public endpoint (/predict, /load_model,
  /gradcam, /occlusion, /integrated_gradients, /counterfactual, /compare, /replay, /batch) with four photos and
  several targets, mixing plain calls, streamed ones (every intermediate output read) and MCP tool calls; every
  answer equals the one the same request got alone (receipts and JSON to float round-off, the raw .npy maps, the
  pictures, a batch's CSV and zipped maps), so nothing leaks from one request into another through the shared model,
  the prepare cache or the scorecard's shared reference and randomised model copies. Meanwhile the page,
  /load_model and a /predict keep answering.
* Back-pressure: a server with a one-job queue answers the overflow at once with a clear "busy, try again" message.
* Leaks: 500 explanations in a row in-process (most through the registry, the rest through the handlers with their
  scorecards, Compare, replay and a counterfactual) leave no hook on any module of the shared model, no parameter
  that requires grad, no stray model copy, and RSS growth under 50 MB after warm-up.
"""

from __future__ import annotations

import ast
import concurrent.futures
import csv
import gc
import io
import json
import random
import tempfile
import threading
import time
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
import torch
from gradio_client import Client
from gradio_client.utils import QueueError, Status
from helpers_app import (
    ASTRONAUT,
    CALL_TIMEOUT,
    CHELSEA,
    COFFEE,
    EXPLANATION_OUTPUTS,
    ROCKET,
    assert_same_json,
    assert_same_map,
    call,
    endpoint_args,
    final,
    stable,
    unexpected_server_errors,
)
from helpers_mcp import call_tool, data_url, text
from PIL import Image
from servers import running_app

import ui.common
import ui.compare
import ui.counterfactual
import ui.gpu
import ui.gradcam
import ui.integrated_gradients
import ui.occlusion
import ui.reproduce
from explainers import pipeline
from explainers.models.predict import prepare

pytestmark = pytest.mark.slow

CALLERS = 40  # concurrent gradio_client callers, one thread and one Client each
GPU_CONCURRENCY = 2  # jobs the load server runs at once (the "gpu" concurrency group)
PAGE_BOUND = 3.0  # s: the page must answer this fast while the queue is full of work
LOAD_MODEL_BOUND = 15.0  # s: /load_model runs in its own small concurrency group, not behind the explainers
PREDICT_BOUND = 20.0  # s: /predict has its own queue group, so mid-load it waits for CPU only, not behind explanations
QUALITY_STEPS = "2"  # scorecard steps on the load server: its minimum, so 40 callers cost seconds, not minutes
MCP_EXPLAIN = ("image", "model_id", "revision", "target", "direction")  # gradcam's tool arguments before its own
LEAK_CALLS = 500  # explanations in the leak test, of which LEAK_HANDLER_CALLS through the app's handlers
LEAK_HANDLER_CALLS = 40
LEAK_WARMUP = 30
RSS_BOUND_MB = 50.0


@dataclass(frozen=True)
class Job:
    """One request: an endpoint, a photo and option overrides (see helpers_app.CHEAP_OPTIONS), and how it is sent.

    ``via``: "client" (gradio_client, final result), "stream" (gradio_client reading every streamed output; the answer
    is the last) or "mcp" (the mcp client calling the endpoint's tool with the photo uploaded as a data URL).
    """

    endpoint: str
    photo: Path | None = None
    options: tuple[tuple[str, Any], ...] = ()
    via: str = "client"

    @property
    def name(self) -> str:
        photo = self.photo.stem if self.photo else "-"
        options = ",".join(f"{k}={Path(v).name if k in ('receipt', 'map') else v}" for k, v in self.options)
        return f"{self.endpoint}:{photo}:{options}" + ("" if self.via == "client" else f":{self.via}")

    def args(self) -> list[Any]:
        return endpoint_args(self.endpoint, self.photo, **dict(self.options))

    def __hash__(self) -> int:
        return hash(self.name)


def _job(endpoint: str, photo: Path | None = None, via: str = "client", **options: Any) -> Job:
    return Job(endpoint, photo, tuple(options.items()), via)


# Different photos, targets (names, indices, top-1), directions and option values, so that a mixed-up answer shows.
JOBS = [
    *[_job("predict", photo) for photo in (COFFEE, CHELSEA, ASTRONAUT, ROCKET)],
    _job("load_model"),
    _job("gradcam", COFFEE),
    _job("gradcam", COFFEE, target="cup", direction="lowers"),
    _job("gradcam", CHELSEA, target="tabby"),
    _job("gradcam", CHELSEA, target="285"),
    _job("gradcam", ASTRONAUT),
    _job("gradcam", ROCKET, target="space shuttle"),
    _job("occlusion", COFFEE),
    _job("occlusion", CHELSEA, target="tiger cat", baselines="zero", window=56, stride=56),
    _job("occlusion", ROCKET, direction="lowers", baselines="mean"),
    _job("integrated_gradients", COFFEE),
    _job("integrated_gradients", CHELSEA, target="tabby", baselines="blur", n_steps=4),
    _job("integrated_gradients", ASTRONAUT, direction="lowers", n_steps=12),
    _job("counterfactual", COFFEE, max_steps=10),
    _job("counterfactual", CHELSEA, goal="tiger cat", max_steps=10, seed=3),
    _job("compare", CHELSEA, target="tabby"),
    _job("compare", ROCKET, methods=["gradcam"]),
    _job("batch", COFFEE),
    _job("batch", ROCKET, target="space shuttle", methods=["gradcam", "occlusion"]),
    _job("gradcam", ASTRONAUT, via="stream", target="cup"),
    _job("compare", COFFEE, via="stream", methods=["gradcam"]),
    _job("predict", CHELSEA, via="mcp"),
    _job("gradcam", ROCKET, via="mcp", target="missile", direction="lowers"),
]
# Replays of two of the answers above (their receipt and kept map), added once those answers exist.
REPLAYED = {"gradcam:coffee:": COFFEE, "occlusion:chelsea:target=tiger cat,baselines=zero,window=56,stride=56": CHELSEA}


@dataclass
class Answer:
    """What one call returned (or raised), and how long it took."""

    job: Job
    seconds: float
    outputs: Any = None
    error: BaseException | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _run(client: Client, job: Job) -> Answer:
    start = time.perf_counter()
    extra: dict[str, Any] = {}
    try:
        if job.via == "mcp":
            outputs = _mcp(client.src, job)
        elif job.via == "stream":
            submitted = client.submit(*job.args(), api_name=f"/{job.endpoint}")
            submitted.result(timeout=CALL_TIMEOUT)
            streamed = submitted.outputs()
            outputs, extra["first"], extra["count"] = streamed[-1], streamed[0], len(streamed)
        else:
            outputs = call(client, job.endpoint, job.args())
    except Exception as exc:  # noqa: BLE001 - reported with the job that raised it
        return Answer(job, time.perf_counter() - start, error=exc)
    return Answer(job, time.perf_counter() - start, outputs, extra=extra)


def _mcp(url: str, job: Job) -> Any:
    """The tool's answer: predict's text as is; an explanation's receipt, read back from the text of its outputs."""
    names = {"predict": ("image", "model_id", "revision"), "gradcam": (*MCP_EXPLAIN, "layer", "variant")}[job.endpoint]
    args = dict(zip(names, [data_url(job.photo), *job.args()[1:]], strict=True))
    result = call_tool(url, job.endpoint, args)
    if result.isError:
        raise RuntimeError(text(result))
    return text(result) if job.endpoint == "predict" else ast.literal_eval(text(result))[-1]


def _pixels(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def assert_same_answer(got: Answer, want: Answer) -> None:
    """The concurrent answer equals the serial one: JSON and receipts (no timings), raw maps, pictures."""
    job = got.job
    assert got.error is None, f"{job.name}: {got.error!r}"
    assert want.error is None, f"{job.name} (alone): {want.error!r}"
    g, w = got.outputs, want.outputs
    if job.via == "stream":  # the map came first, without its receipt; then the same answer as a plain call
        assert got.extra["count"] == want.extra["count"] >= 2, f"{job.name}: {got.extra['count']} outputs"
        assert got.extra["first"][-1] is None, f"{job.name}: the first output already had the receipt"
    if job.via == "mcp":
        if job.endpoint == "predict":
            assert g == w, f"{job.name}: {g!r} != {w!r}"
        else:
            assert_same_json(stable(g), stable(w), where=f"{job.name} receipt")
    elif job.endpoint == "load_model":
        assert g == w
    elif job.endpoint == "predict":
        assert g[1] == w[1]
        assert_same_json(g[0], w[0], where=f"{job.name} label")
        assert_same_json(g[2], w[2], where=f"{job.name} json")
    elif job.endpoint == "counterfactual":
        assert_same_json(stable(g[2]), stable(w[2]), where=f"{job.name} json")
        assert_same_map(g[1], w[1])
        assert np.abs(_pixels(g[0]) - _pixels(w[0])).max() <= 1, f"{job.name}: counterfactual pictures differ"
    elif job.endpoint == "compare":
        assert_same_json(stable(g[4]), stable(w[4]), where=f"{job.name} receipts")
        assert np.abs(_pixels(g[0]) - _pixels(w[0])).max() <= 2, f"{job.name}: side-by-side pictures differ"
    elif job.endpoint == "batch":
        assert_same_batch(g, w, where=job.name)
    elif job.endpoint == "replay":
        assert_same_map(g[0], w[0])
        for result in (g[1], w[1]):
            assert result["reproduced"] is True, f"{job.name}: {result}"
        assert (g[1]["method"], g[1]["target"]) == (w[1]["method"], w[1]["target"])
    else:
        got_out, want_out = (
            dict(zip(EXPLANATION_OUTPUTS, g, strict=True)),
            dict(zip(EXPLANATION_OUTPUTS, w, strict=True)),
        )
        assert_same_json(stable(got_out["receipt"]), stable(want_out["receipt"]), where=f"{job.name} receipt")
        assert_same_map(got_out["npy"], want_out["npy"])
        assert got_out["badge"].split("·")[0] == want_out["badge"].split("·")[0], f"{job.name}: badges differ"
        # Colours come from the map scaled to its robust maximum: round-off may move a pixel by one level.
        assert np.abs(_pixels(got_out["overlay"]) - _pixels(want_out["overlay"])).max() <= 2, f"{job.name}: overlays"


def assert_same_batch(got: Any, want: Any, *, where: str) -> None:
    """Two batch answers hold the same rows (timings aside) and the same maps."""
    volatile = ("map_seconds", "scorecard_seconds")
    rows = [[{k: v for k, v in r.items() if k not in volatile} for r in _csv(out[1])] for out in (got, want)]
    assert len(rows[0]) == len(rows[1]), where
    for g_row, w_row in zip(*rows, strict=True):
        for key in w_row:
            try:
                same = abs(float(g_row[key]) - float(w_row[key])) <= 1e-4 * max(1.0, abs(float(w_row[key])))
            except ValueError:
                same = g_row[key] == w_row[key]
            assert same, f"{where}: {key} {g_row[key]!r} != {w_row[key]!r}"
    with zipfile.ZipFile(got[0]) as g_zip, zipfile.ZipFile(want[0]) as w_zip:
        maps = sorted(n for n in w_zip.namelist() if n.endswith(".npy"))
        assert maps == sorted(n for n in g_zip.namelist() if n.endswith(".npy")), where
        for name in maps:
            g_map, w_map = (np.load(io.BytesIO(z.read(name))) for z in (g_zip, w_zip))
            assert np.abs(g_map - w_map).max() <= 1e-4 * max(float(np.abs(w_map).max()), 1e-12), f"{where}: {name}"


def _csv(path: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(Path(path).read_text())))


# --------------------------------------------------------------------------------------------------- the load run


@pytest.fixture(scope="module")
def load_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log = tmp_path_factory.mktemp("load") / "app.log"
    env = {
        "XAI_GPU_CONCURRENCY": str(GPU_CONCURRENCY),
        "XAI_QUEUE_SIZE": str(4 * CALLERS),
        "XAI_QUALITY_STEPS": QUALITY_STEPS,
    }
    with running_app(env=env, log_path=log) as url:
        yield url, log


@pytest.fixture(scope="module")
def alone(load_server: tuple[str, Path]) -> dict[Job, Answer]:
    """Each distinct request, sent alone, one after the other: the reference answers (replays included)."""
    client = Client(load_server[0], verbose=False)
    answers = {job: _run(client, job) for job in JOBS}
    for job, answer in list(answers.items()):
        if job.name in REPLAYED and answer.error is None:
            out = dict(zip(EXPLANATION_OUTPUTS, answer.outputs, strict=True))
            replay = _job("replay", REPLAYED[job.name], receipt=out["receipt_file"], map=out["npy"])
            answers[replay] = _run(client, replay)
    return answers


@pytest.fixture(scope="module")
def under_load(load_server: tuple[str, Path], alone: dict[Job, Answer]) -> dict[str, Any]:
    """CALLERS threads fire at once (each job at least twice, in a shuffled order); probes time the server meanwhile."""
    url = load_server[0]
    distinct = list(alone)
    jobs = [distinct[i % len(distinct)] for i in range(CALLERS)]
    random.Random(7).shuffle(jobs)
    clients = [Client(url, verbose=False) for _ in jobs]
    start_line = threading.Barrier(len(jobs) + 1)
    done = threading.Event()
    probes: dict[str, Any] = {"page": [], "load_model": [], "predict": None}

    def caller(client: Client, job: Job) -> Answer:
        start_line.wait()
        return _run(client, job)

    def probe_page() -> None:
        while not done.is_set():
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(url, timeout=30) as resp:
                    resp.read()
            except (OSError, urllib.error.URLError) as exc:
                probes["page"].append(exc)
            else:
                probes["page"].append(time.perf_counter() - start)
            done.wait(0.5)

    def probe_endpoints() -> None:
        client = Client(url, verbose=False)
        time.sleep(1.0)  # the queue is full by now
        for _ in range(3):
            probes["load_model"].append(_run(client, _job("load_model")).seconds)
        probes["predict"] = _run(client, _job("predict", COFFEE))

    with concurrent.futures.ThreadPoolExecutor(len(jobs) + 2) as pool:
        futures = [pool.submit(caller, client, job) for client, job in zip(clients, jobs, strict=True)]
        page = pool.submit(probe_page)
        start_line.wait()
        started = time.perf_counter()
        endpoints = pool.submit(probe_endpoints)
        answers = [f.result(timeout=600) for f in futures]
        wall = time.perf_counter() - started
        endpoints.result(timeout=600)
        done.set()
        page.result(timeout=60)
    return {"answers": answers, "wall": wall, "probes": probes}


def test_every_request_sent_alone_succeeds(alone: dict[Job, Answer]) -> None:
    failed = {job.name: repr(answer.error) for job, answer in alone.items() if answer.error is not None}
    assert not failed
    print("\nalone: " + ", ".join(f"{job.name} {a.seconds:.2f} s" for job, a in alone.items()))


def test_concurrent_callers_get_exactly_their_own_answers(under_load: dict[str, Any], alone: dict[Job, Answer]) -> None:
    answers: list[Answer] = under_load["answers"]
    assert len(answers) == CALLERS >= 32
    assert {a.job.endpoint for a in answers} == {
        "predict",
        "load_model",
        "gradcam",
        "occlusion",
        "integrated_gradients",
        "counterfactual",
        "compare",
        "replay",
        "batch",
    }
    assert {a.job.via for a in answers} == {"client", "stream", "mcp"}
    for answer in answers:
        assert_same_answer(answer, alone[answer.job])
    latencies = sorted(a.seconds for a in answers)
    serial = sum(alone[a.job].seconds for a in answers)
    print(
        f"\n{CALLERS} callers, GPU concurrency {GPU_CONCURRENCY}: all answered in {under_load['wall']:.1f} s "
        f"(the same requests one by one: {serial:.1f} s); latency median {latencies[len(latencies) // 2]:.1f} s, "
        f"max {latencies[-1]:.1f} s"
    )


def test_the_server_stays_responsive_under_load(under_load: dict[str, Any]) -> None:
    probes = under_load["probes"]
    page = probes["page"]
    assert page and all(isinstance(t, float) for t in page), f"the page failed to load: {page}"
    assert max(page) < PAGE_BOUND, f"the page took {max(page):.1f} s under load"
    assert max(probes["load_model"]) < LOAD_MODEL_BOUND, probes["load_model"]
    predict: Answer = probes["predict"]
    assert predict.error is None, repr(predict.error)
    assert predict.outputs[2]["decision"] == "espresso"
    assert predict.seconds < PREDICT_BOUND
    print(
        f"\nunder load: page max {max(page):.2f} s over {len(page)} loads; /load_model "
        f"{', '.join(f'{t:.2f}' for t in probes['load_model'])} s; /predict queued mid-load {predict.seconds:.1f} s"
    )


def test_no_handler_crashed_under_load(load_server: tuple[str, Path], under_load: dict[str, Any]) -> None:
    crashes = unexpected_server_errors(load_server[1].read_text(errors="replace"))
    assert not crashes, crashes


# ---------------------------------------------------------------------------------------------- a flooded queue

QUEUE_SIZE = 1
# Valid through the API (every value within its slider) and minutes long on one CPU thread: 55 x 55 windows.
SLOW_JOB = _job("occlusion", COFFEE, window=8, stride=4, mode="dense")


def test_a_full_queue_answers_the_overflow_with_a_clear_busy_message(tmp_path: Path) -> None:
    env = {"XAI_QUEUE_SIZE": str(QUEUE_SIZE), "XAI_GPU_CONCURRENCY": "1"}
    with running_app(env=env, log_path=tmp_path / "app.log") as url:
        client = Client(url, verbose=False)
        running = client.submit(*SLOW_JOB.args(), api_name="/occlusion")
        _wait_for(lambda: running.status().code == Status.PROCESSING, "the first slow job to start")
        waiting = client.submit(*SLOW_JOB.args(), api_name="/occlusion")
        _wait_for(lambda: waiting.status().code in (Status.IN_QUEUE, Status.QUEUE_FULL), "the second job to queue")
        assert waiting.status().code == Status.IN_QUEUE, "a one-job queue must take the second job"

        overflow = []
        for job in (_job("predict", COFFEE), _job("gradcam", CHELSEA), SLOW_JOB):
            start = time.perf_counter()
            with pytest.raises(QueueError) as info:
                call(client, job.endpoint, job.args(), timeout=30)
            overflow.append((time.perf_counter() - start, str(info.value)))
        for seconds, message in overflow:
            assert "queue is full" in message.lower() and "try again" in message.lower(), message
            assert seconds < 10, f"the overflow waited {seconds:.1f} s for its refusal"

        # What the browser's client gets: HTTP 503 (its front end then shows "This application is currently busy.
        # Please try again."), with Gradio's detail.
        status, detail = _raw_join(url, "predict")
        assert status == 503, (status, detail)
        assert f"Max size is {QUEUE_SIZE}" in detail and "Queue is full" in detail, detail
        print(
            f"\noverflow refused in {max(s for s, _ in overflow):.2f} s at most: {overflow[0][1]!r}; "
            f"HTTP {status} {detail!r}"
        )
        running.cancel()
        waiting.cancel()


def _wait_for(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.1)


def _raw_join(url: str, api_name: str) -> tuple[int, str]:
    """POST straight to Gradio's queue (as the JS client does) and return the HTTP status and the error detail."""
    with urllib.request.urlopen(f"{url}config", timeout=10) as resp:
        config = json.load(resp)
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)
    body = json.dumps(
        {
            "data": [None, "default", ""],
            "fn_index": fn_index,
            "session_hash": "loadtest",
            "event_data": None,
            "trigger_id": None,
        }
    ).encode()
    request = urllib.request.Request(
        f"{url}gradio_api/queue/join", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read().decode()).get("detail", "")


# ------------------------------------------------------------------------------------------------------- leaks


def _hooks(model: torch.nn.Module) -> list[str]:
    """Every forward/backward hook left on the model's modules, its parameters, or globally."""
    found = []
    for name, module in model.named_modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            if getattr(module, attr, None):
                found.append(f"{name or '<root>'}.{attr}")
    for name, param in model.named_parameters():
        if getattr(param, "_backward_hooks", None):
            found.append(f"{name}._backward_hooks")
    hooks = torch.nn.modules.module
    for attr in (
        "_global_forward_hooks",
        "_global_forward_pre_hooks",
        "_global_backward_hooks",
        "_global_backward_pre_hooks",
    ):
        if getattr(hooks, attr, None):
            found.append(f"torch.nn.modules.module.{attr}")
    return found


def _rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def _modules_alive() -> int:
    gc.collect()
    with warnings.catch_warnings():  # isinstance() on torch's deprecated module proxies warns
        warnings.simplefilter("ignore")
        return sum(isinstance(o, torch.nn.Module) for o in gc.get_objects())


def test_500_explanations_leave_no_hooks_no_grad_and_little_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the files the handlers write land here
    monkeypatch.setattr(ui.gpu, "QUALITY_STEPS", int(QUALITY_STEPS))
    photos = []
    for source in (COFFEE, CHELSEA):
        small = tmp_path / f"{source.stem}_small.png"
        with Image.open(source) as image:
            image.thumbnail((96, 96))
            image.save(small)
        photos.append(str(small))
    loaded = ui.common.model("default", "")
    model = loaded.model
    was_training = model.training
    kept = final(ui.gradcam.on_gradcam(photos[0], "default", "", "top-1", "raises", ""))  # a receipt and map to replay

    def registry(i: int) -> None:
        """One map straight from the registry, as every handler computes it (no scorecard, no rendering)."""
        prepared, prediction = prepare(loaded, photos[i % 2])
        kind = i % 25
        if kind in (5, 15):
            method, options = "occlusion", {"window": 112, "stride": 112, "baselines": "zero", "mode": "dense"}
        elif kind == 10:
            method, options = "integrated_gradients", {"n_steps": 2, "baselines": "black"}
        else:  # Grad-CAM, the cheapest method, with targets by name, index and top-1, both directions
            method, options = "gradcam", {}
        target = (None, "espresso", "281", "cup")[kind % 4]
        direction = ("raises", "lowers")[kind % 2]
        pipeline.explain(loaded, prepared, prediction, method, target=target, direction=direction, options=options)

    def handler(i: int) -> None:
        """One request as the app serves it: map, scorecard (randomised model copy included), receipt, pictures."""
        photo = photos[i % 2]
        kind = i % 10
        if kind in (0, 5):
            final(ui.occlusion.on_occlusion(photo, "default", "", "top-1", "lowers", 112, 112, "zero", "dense"))
        elif kind == 3:
            final(ui.integrated_gradients.on_integrated_gradients(photo, "default", "", "cup", "raises", 2, "black", 0))
        elif kind == 7:
            final(ui.compare.on_compare(photo, "default", "", "top-1", "raises", ["gradcam", "occlusion"]))
        elif kind == 9:
            ui.reproduce.on_replay(photos[0], kept[4], kept[3])
        else:
            final(ui.gradcam.on_gradcam(photo, "default", "", ("top-1", "espresso", "281")[kind % 3], "raises", ""))

    def counterfactual() -> None:
        # Its own optimisation, with gradients on the pixels and a Grad-CAM mask: it too must leave nothing behind.
        ui.counterfactual.on_counterfactual(photos[0], "default", "", "any other class", 1.0, 0.25, 0.1, 2, 0.5, 0, 0.6)

    # Warm-up: allocator pools, the prepare cache and the counterfactual's batch buffers reach their working size.
    counterfactual()
    for i in range(LEAK_WARMUP):
        registry(i)
        if i < 10:
            handler(i)
    rss_before, modules_before = _rss_mb(), _modules_alive()
    start = time.perf_counter()
    every = LEAK_CALLS // LEAK_HANDLER_CALLS
    for i in range(LEAK_CALLS):
        if i % every == every - 1:
            handler(i // every)
        else:
            registry(i)
        if i % 100 == 0:
            assert not _hooks(model), f"after call {i}: {_hooks(model)}"
    seconds = time.perf_counter() - start
    rss_after, modules_after = _rss_mb(), _modules_alive()
    counterfactual()

    assert not _hooks(model)
    assert not [name for name, p in model.named_parameters() if p.requires_grad], "parameters require grad"
    assert all(p.grad is None for p in model.parameters()), "gradients were accumulated on the weights"
    assert model.training == was_training is False
    assert torch.is_grad_enabled(), "grad mode was left off"
    assert modules_after <= modules_before, f"{modules_after - modules_before} more nn.Modules alive (model copies?)"
    growth = rss_after - rss_before
    left = sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file()) / 2**20
    print(
        f"\n{LEAK_CALLS} explanations ({LEAK_HANDLER_CALLS} through handlers) in {seconds:.1f} s: RSS "
        f"{rss_before:.0f} -> {rss_after:.0f} MB ({growth:+.1f} MB); nn.Modules alive {modules_before} -> "
        f"{modules_after}; files left in the temp dir: {left:.0f} MB"
    )
    assert growth < RSS_BOUND_MB, f"RSS grew {growth:.1f} MB over {LEAK_CALLS} explanations"
