"""Corrections in the Prediction tab (/correct), and the owner's status (pending corrections, last fine-tune, the
automatic retrain's job and candidate, with the button that serves it).

Visitors only ever get back their own record's summary; the owner's status shows counts and figures, never images.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Any

import gradio as gr

import explainers as xai
from explainers.corrections import Intake, data_dir, hint, open_intake
from finetuning.retrain import Retrainer, Settings, served_candidate

from . import common, gpu
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
_retrain = Settings()  # app.py --retrain-after N (or XAI_RETRAIN_AFTER=N) turns it on
_retrainer: Retrainer | None = None
_startup = "default"  # the model app.py was started with, as typed: a served candidate replaces only that one
log = logging.getLogger(__name__)


def set_owner(on: bool) -> None:
    """Show the owner's status accordion in pages built from now on (python app.py --owner)."""
    global _owner
    _owner = on


def start(
    source: xai.ModelSource | None = None, *, owner: bool, retrain_after: int | None = None
) -> xai.ModelSource | None:
    """At app start: the owner flag, the automatic retrain's settings, and the Hub mirror when XAI_CORRECTIONS_REPO
    is set (so a missing token or repo stops the start instead of the first visitor's correction).

    Returns:
        the model to serve: ``source``, or the retrained candidate the owner chose to serve instead of it (which
        becomes the startup model).
    """
    global _retrain, _startup
    set_owner(owner)
    _retrain = Settings.from_env(retrain_after)
    if os.environ.get("XAI_CORRECTIONS_REPO"):
        intake()
    if _retrain.after:
        atexit.register(_stop_job)  # a job must not outlive the app (a killed app's is stopped at the next start)
        if not owner:
            log.warning("retraining after %d corrections; only the owner's status (--owner) serves one", _retrain.after)
    _startup = source.display if source is not None else "default"
    if source is None:
        return None
    folder = served_candidate(data_dir(), _startup)
    if folder is None:
        return source
    log.info("serving the retrained candidate %s, which the owner chose over %s", folder, _startup)
    served = xai.parse_source(str(folder), allow_local=True)
    common.set_startup_source(served)
    return served


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


def retrainer() -> Retrainer:
    """The automatic retrain of the intake's store (made on first use, after a job a stopped app left running)."""
    global _retrainer
    store = intake().store
    with _intake_lock:
        if _retrainer is None or _retrainer.store is not store:
            _retrainer = Retrainer(store, _retrain)
        return _retrainer


def _stop_job() -> None:
    if _retrainer is not None:
        _retrainer.stop()


def retrain_in_background() -> threading.Thread | None:
    """After a stored correction: a thread that fine-tunes the serving model if N new corrections exist (the job
    itself runs at nice 19 in subprocesses); None when retraining is off.
    """
    if not _retrain.after:
        return None

    def run() -> None:
        serving = model("default", "")
        retrainer().after_correction(serving.source.display, serving.model_id)

    thread = threading.Thread(target=run, name="retrain", daemon=True)
    thread.start()
    return thread


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
    retrain_in_background()  # never in the request's path: it returns at once
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
    else:
        figures = last["figures"]
        lines.append(
            f"Last fine-tune {last['created'][:16].replace('T', ' ')} UTC: `{last['model_id']}` -> revision "
            f"`{last['revision'] or 'not pushed'}`, {figures.get('corrections', '?')} corrections, "
            f"{figures.get('seconds', 0):.0f} s."
        )
        lines += _table(figures.get("evaluation", {}))
    return "\n\n".join(lines + _retrain_lines())


def _table(evaluation: dict[str, Any]) -> list[str]:
    rows = [
        f"| {name} | {row['n']} | {row['metric']} | {_figure(row['before'])} | {_figure(row['after'])} |"
        for name, row in evaluation.items()
    ]
    head = "| set | images | metric | before | after |\n| --- | ---: | --- | ---: | ---: |\n"
    return [head + "\n".join(rows)] if rows else []


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"  # None: a set with no images (no --original held aside)


def _offered() -> str:
    """The finished candidate the owner may serve now ("" when none: none made, or it is already served)."""
    state = retrainer().status()
    last, served = state["last"] or {}, state["served"] or {}
    return str(last["candidate"]) if last.get("status") == "ok" and served.get("candidate") != last["candidate"] else ""


def _retrain_lines() -> list[str]:
    """The automatic retrain: new corrections against N, the running job, the last result and what is served."""
    if not _retrain.after:
        lines = ["Automatic retraining is off (`XAI_RETRAIN_AFTER=N`: fine-tune after N new corrections)."]
        state = retrainer().status()
    else:
        serving = model("default", "")
        state = retrainer().status(serving.model_id)
        lines = [
            f"Automatic retraining: **{state['new']}** of {_retrain.after} new corrections of `{serving.model_id}`."
        ]
    job, last, served = state["job"], state["last"], state["served"]
    if job:
        lines.append(
            f"⏳ Retraining since {_time(job['started'])} (job `{job['id']}`, step {job.get('step')}, pid "
            f"{job.get('pid', '-')}, nice 19): `{job.get('output') or 'starting'}`"
        )
    if last and last["status"] == "failed":
        lines.append(
            f"❌ The last retrain (job `{last['job']}`, {_time(last['finished'])}) failed after "
            f"{last['seconds']:.0f} s: {last['reason']}. The serving model is unchanged."
        )
    elif last:
        report = last["report"]
        lines.append(
            f"✅ Candidate `{last['candidate']}` ({_time(last['finished'])}): `{last['source']}` fine-tuned on "
            f"{report.get('corrections', '?')} corrections in {last['seconds']:.0f} s; in `{last['folder']}`."
        )
        lines += _table(report.get("evaluation", {}))
    if served:
        lines.append(
            f"Serving candidate `{served['candidate']}` since {_time(served['accepted'])}, instead of "
            f"`{served['startup']}`."
        )
    if _offered():
        lines.append("Not served yet: **Serve this candidate** makes it the startup model (`default`).")
    return lines


def _time(iso: str) -> str:
    return iso[:16].replace("T", " ") + " UTC"


def on_owner_refresh() -> tuple[str, dict[str, Any], str]:
    """The owner's status, and the serve button for the candidate it offers (owner only: a private event)."""
    offered = _offered()
    return on_owner_status(), gr.update(visible=bool(offered)), offered


@user_errors
def on_serve_candidate(candidate: str) -> tuple[str, dict[str, Any], str]:
    """Serve this candidate as the startup model, once it loads (owner only: a private event)."""
    folder = retrainer().candidate(candidate)
    source = xai.parse_source(str(folder), allow_local=True)
    xai.load_model(source)  # proved before anything switches: a candidate that cannot load leaves the model alone
    retrainer().accept(candidate, _startup)
    common.set_startup_source(source)
    return on_owner_refresh()


@user_errors
def on_answer_hint(model_id: str, revision: str) -> dict[str, Any]:
    """The answer box's help for the loaded model: its task's form with its own names (unchanged when the model
    does not load: the model line already says why, once).
    """
    try:
        task = model(model_id, revision).task
    except xai.ExplainerError:
        return gr.update()
    return gr.update(info=hint(task))


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
            with gr.Row():
                refresh = gr.Button("Refresh", size="sm")
                serve = gr.Button("Serve this candidate", size="sm", variant="primary", visible=False)
            offered = gr.State("")
        refresh.click(on_owner_refresh, None, [status, serve, offered], api_visibility="private")
        serve.click(on_serve_candidate, offered, [status, serve, offered], api_visibility="private")
