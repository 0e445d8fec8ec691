"""Progress and cancel glue: progress for the explainers that also stops a job whose visitor has left."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr
from gradio.context import LocalContext

import explainers as xai


def progress_for(progress: gr.Progress | None) -> Callable[[float, str], None] | None:
    """Progress for the explainers; it also stops the job (CancelledError) once the visitor has left the page."""
    if progress is None:
        return None
    alive = event_alive()

    def report(fraction: float, desc: str) -> None:
        if not alive():
            raise xai.CancelledError("the visitor left the page; the job was stopped to free the GPU for others")
        progress(fraction, desc=clean(desc))

    return report


def clean(desc: str) -> str:
    """A progress text without a repeated prefix: "occlusion: occlusion: 51/729 windows" -> "occlusion: 51/729 windows".

    The pipeline names the method and the method names itself; the second name says nothing new.
    """
    parts = desc.split(": ")
    kept = [part for i, part in enumerate(parts) if i == 0 or part != parts[i - 1]]
    return ": ".join(kept)


def event_alive() -> Callable[[], bool]:
    """Whether this request's queue event is still wanted.

    Gradio marks an event dead (Queue.clean_events) when its session's stream disconnects and drops it from the
    running jobs on /cancel, but a sync handler's thread keeps running (and its concurrency slot is handed to the
    next job). The methods call progress often, so checking here ends the job at its next step. Uses Gradio's
    queue internals, read only; outside a queued request it answers True.
    """
    blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)
    if queue is None or event_id is None:
        return lambda: True

    def alive() -> bool:
        # A running event sits in active_jobs; /cancel ends its asyncio task, which takes it out, and a visitor
        # who closes the page leaves it there with alive=False.
        for job in list(queue.active_jobs):
            for event in job or ():
                if event._id == event_id:
                    return bool(event.alive)
        return False

    return alive
