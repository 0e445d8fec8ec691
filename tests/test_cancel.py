"""Long jobs stop when their request is abandoned, so the GPU slot they held is not oversubscribed."""

from __future__ import annotations

import time

import pytest
from gradio_client import Client, handle_file
from servers import ROOT, cpu_percent, running_app, server_process

COFFEE = str(ROOT / "examples" / "coffee.jpg")

pytestmark = pytest.mark.slow


def test_a_cancelled_occlusion_job_stops_computing() -> None:
    with running_app(env={"XAI_GPU_CONCURRENCY": "1"}) as url:
        proc = server_process(url)
        client = Client(url, verbose=False)
        # Dense occlusion with a 4 px stride: ~3000 windows, over a minute on one CPU thread.
        job = client.submit(
            handle_file(COFFEE), "default", "", "top-1", "raises", 8, 4, "zero", "dense", api_name="/occlusion"
        )
        deadline = time.monotonic() + 60
        while job.status().code.name != "PROGRESS":
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.2)
        busy = cpu_percent(proc)
        job.cancel()
        time.sleep(1.0)  # the job notices at its next progress report (one batch of windows)
        idle = cpu_percent(proc, 3.0)
    # Relative bounds: on a shared 2-core machine a busy job may get well under one core, but a cancelled one drops
    # to the server's idle hum (a few %) whatever the load.
    assert busy > 25, f"the job was not computing ({busy:.0f}% CPU)"
    assert idle < min(30, busy / 3), f"the cancelled job kept computing ({idle:.0f}% CPU, {busy:.0f}% while running)"
