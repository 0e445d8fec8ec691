"""Corrections in the Prediction tab (/correct), and the owner's status (pending corrections, last fine-tune).

Visitors only ever get back their own record's summary; the owner's status shows counts and figures, never images.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import gradio as gr

from explainers.corrections import Intake, hint, open_intake

from . import gpu
from .common import CHEAP_CONCURRENCY, endpoint, model, user_errors
from .components import Inputs, show_results

ANSWER_INFO = (
    "In the model's own terms: a class ('Shirt'); every label that applies, comma-separated ('cat, dog') or 'none'; "
    "or every value with its unit ('calories = 250 kcal, mass = 200 g')."
)
CONSENT_LABEL = "Keep my image to improve the model (otherwise only its fingerprint, a sha256, is kept)"

_intake: Intake | None = None
_intake_lock = threading.Lock()
_owner = False  # app.py --owner (or XAI_OWNER=1) turns it on


def set_owner(on: bool) -> None:
    """Show the owner's status accordion in pages built from now on (python app.py --owner)."""
    global _owner
    _owner = on


def start(*, owner: bool) -> None:
    """At app start: the owner flag, and the Hub mirror when XAI_CORRECTIONS_REPO is set (so a missing token or
    repo stops the start instead of the first visitor's correction).
    """
    set_owner(owner)
    if os.environ.get("XAI_CORRECTIONS_REPO"):
        intake()


def use_intake(intake: Intake | None) -> None:
    """Store corrections there from now on (None: open XAI_DATA_DIR's store on the next correction)."""
    global _intake
    with _intake_lock:
        _intake = intake


def intake() -> Intake:
    """The app's intake, opened on first use from XAI_DATA_DIR and XAI_CORRECTIONS_REPO."""
    global _intake
    with _intake_lock:
        if _intake is None:
            _intake = open_intake()
        return _intake


def visitor_key(request: gr.Request | None) -> str:
    """Who is asking, for the rate limit: the Gradio session, else the client's address."""
    session = getattr(request, "session_hash", None)
    if session:
        return f"session:{session}"
    client = getattr(request, "client", None)
    return f"host:{getattr(client, 'host', None) or 'local'}"


@endpoint("correct")
def on_correct(
    image: Any, model_id: str, revision: str, answer: str, consent: bool, request: gr.Request | None = None
) -> tuple[str, dict[str, Any]]:
    """Store the right answer for this image: a confirmation and the record's summary (its id, no image bytes).

    Args:
        answer: the right answer in the model's terms: a class; labels separated by commas; or values with units
            ("calories = 350 kcal; protein = 12 g").
        consent: True keeps the image for fine-tuning; False keeps only its sha256.

    Returns:
        a confirmation in words
        JSON: the stored record's summary (id, model, revision, weights sha256, prediction, answer, time)
    """
    loaded = model(model_id, revision)
    record = intake().submit(
        loaded,
        image,
        answer,
        consent=consent,
        visitor=visitor_key(request),
        prediction=lambda: gpu.predict(model_id, revision, image),
    )
    kept = "the image is kept" if record.image is not None else "only the image's fingerprint (sha256) is kept"
    said = record.prediction.get("decision")
    same = " (the model already said so: kept as a confirmation)" if said == record.answer["text"] else ""
    message = (
        f"✅ Thank you. Correction `{record.id[:8]}` stored: the model said **{said}**, you said "
        f"**{record.answer['text']}**{same}; {kept}."
    )
    return message, record.summary()


def on_owner_status() -> str:
    """Pending corrections and the last fine-tune's figures, as Markdown (owner only: never an API endpoint)."""
    store = intake().store
    lines = [f"**{store.count(pending_only=True)}** corrections pending (of {store.count()} stored)."]
    last = store.last_finetune()
    if last is None:
        lines.append("No fine-tune recorded yet: `python finetune.py export --out DIR`, then `finetune.py train`.")
        return "\n\n".join(lines)
    figures = last["figures"]
    lines.append(
        f"Last fine-tune {last['created'][:16].replace('T', ' ')} UTC: `{last['model_id']}` -> revision "
        f"`{last['revision'] or 'not pushed'}`, {figures.get('corrections', '?')} corrections, "
        f"{figures.get('seconds', 0):.0f} s."
    )
    rows = [
        f"| {name} | {row['n']} | {row['metric']} | {row['before']:.3f} | {row['after']:.3f} |"
        for name, row in figures.get("evaluation", {}).items()
    ]
    if rows:
        lines.append(
            "| set | images | metric | before | after |\n| --- | ---: | --- | ---: | ---: |\n" + "\n".join(rows)
        )
    return "\n\n".join(lines)


@user_errors
def on_answer_hint(model_id: str, revision: str) -> dict[str, Any]:
    """The answer box's help for the loaded model: its task's form with its own names."""
    return gr.update(info=hint(model(model_id, revision).task))


def build(inputs: Inputs, *, owner: bool | None = None) -> None:
    """A "Correct this prediction" accordion in the current tab, and the owner's status when the app was started so."""
    with gr.Accordion("Correct this prediction", open=False):
        answer = gr.Textbox(label="The right answer", info=ANSWER_INFO, max_length=1000, lines=1)
        consent = gr.Checkbox(value=False, label=CONSENT_LABEL)
        send = gr.Button("Send correction", size="sm")
        message = gr.Markdown()
        record = gr.JSON(label="Stored correction", open=False)
    sent = send.click(
        on_correct,
        [*inputs.upload, answer, consent],
        [message, record],
        api_name="correct",
        concurrency_id="correct",
        concurrency_limit=CHEAP_CONCURRENCY,
    )
    show_results(inputs, sent, [message, record])
    inputs.load_button.click(on_answer_hint, [inputs.model_id, inputs.revision], answer, api_visibility="private")
    if owner if owner is not None else _owner:
        with gr.Accordion("Owner: corrections and fine-tunes", open=False):
            status = gr.Markdown("Press Refresh.")
            refresh = gr.Button("Refresh", size="sm")
        refresh.click(on_owner_status, None, status, api_visibility="private")
