"""What every tab shares: the startup model, ExplainerError -> gr.Error, and turning results into what tabs show."""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, TypeVar

import gradio as gr
import numpy as np
from gradio.context import LocalContext

import explainers as xai
from explainers import display, render
from explainers.models.sources import resolve_source
from explainers.pipeline import Scored
from explainers.trust import language, phrases, reasons

from . import i18n

TOP1 = "top-1"
DIRECTIONS = ["raises", "lowers"]
# Model loading and prediction are cheap: this many at once, in their own groups, never behind a GPU job.
CHEAP_CONCURRENCY = int(os.environ.get("XAI_CHEAP_CONCURRENCY", "4"))
OVERLAY_ALPHA = 0.75  # opacity at full scale; zero stays transparent, so the photo shows through weak evidence
BADGE_ICONS = {"pass": "✅", "warn": "⚠️", "fail": "❌"}

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("app")
# The last user error of each browser session, for the failure events that show it in place of stale outputs.
_errors: dict[str, str] = {}
_errors_lock = threading.Lock()
_ERRORS_KEPT = 1024

_startup: xai.ModelSource = xai.parse_source(os.environ.get("XAI_MODEL"), allow_local=True)


class View(NamedTuple):
    """The CPU-side facts about an upload that rendering needs."""

    rgb: np.ndarray
    crop_box: tuple[float, float, float, float]
    sha256: str


def set_startup_source(source: xai.ModelSource) -> None:
    """Make ``source`` the model that "default" (and a blank model id) names from now on."""
    global _startup
    _startup = source


def model(model_id: str | None, revision: str | None) -> xai.LoadedModel:
    """The model a UI/API field names: "default" is the startup model, anything else a Hub repo (loaded once)."""
    return xai.load_model(resolve_source(model_id, revision, _startup))


def user_errors(fn: F) -> F:
    """ExplainerError -> gr.Error (the message the user reads); everything else propagates and is logged.

    A user's mistake is one log line, not a traceback, and is remembered for the session's failure events
    (``last_error``). A generator stays a generator (Gradio streams what it yields), its errors converted as they are
    raised.
    """
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(*args, **kwargs)
            except xai.ExplainerError as exc:
                raise user_error(exc, fn.__name__) from exc

        return stream  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except xai.ExplainerError as exc:
            raise user_error(exc, fn.__name__) from exc

    return wrapper  # type: ignore[return-value]


def user_error(exc: Exception, where: str) -> gr.Error:
    """The gr.Error a user reads for ``exc``: logged as one line (no traceback) and remembered for the session."""
    message = str(exc)
    log.info("user error in %s: %s: %s", where, type(exc).__name__, message)
    request = LocalContext.request.get(None)
    session = getattr(request, "session_hash", None)
    if session:
        with _errors_lock:
            _errors.pop(session, None)
            _errors[session] = STOPPED if isinstance(exc, xai.CancelledError) else message
            while len(_errors) > _ERRORS_KEPT:
                _errors.pop(next(iter(_errors)))
    return gr.Error(message, title=type(exc).__name__, print_exception=False)


# What a stopped job's results show: Stop writes it at once, and the failure event the cancelled job raises afterwards
# (its progress check throws CancelledError) writes it again instead of an error.
STOPPED = "⏹ **Stopped** · the job ends at its next step; change the options and run again"


def last_error(request: gr.Request | None) -> str:
    """The last user error of ``request``'s session (taken: each is shown once), or a pointer to the toast."""
    session = getattr(request, "session_hash", None)
    with _errors_lock:
        message = _errors.pop(session, None) if session else None
    return message or "see the message at the top right"


# What the shared arguments mean, for every endpoint's docstring (its MCP tool description); handlers document only
# their own options.
ARGS = {
    "image": "the photo: an uploaded file or an http(s) URL (PNG, JPEG, WebP, GIF, TIFF...; at most 25 MB)",
    "model_id": "'default' (the Space's model) or a Hub repo id owner/name with config.json + model.safetensors",
    "revision": "branch, tag or commit sha of the Hub repo; blank for its default branch",
    "target": "what to explain: a class / label / output name as /predict shows it, its index, or 'top-1'",
    "direction": "'raises' (evidence for the target) or 'lowers' (evidence against it)",
}


def endpoint(api_name: str, *, returns: tuple[str, ...] = (), about: str = "") -> Callable[[F], F]:
    """A public handler: ``user_errors``, named ``api_name`` and documented in full for its MCP tool.

    Gradio names an endpoint's MCP tool after its function and describes it from the docstring (summary, one
    ``name: text`` line per argument, one line per returned value). The wrapper takes the api_name, and its docstring
    gains ``about`` after the summary (what several endpoints share), a line from ARGS for each shared argument the
    handler does not describe, and the ``returns`` lines.
    """

    def decorate(fn: F) -> F:
        wrapped = i18n.speaking(user_errors(fn))  # i18n hook: the request's language for reports and messages
        wrapped.__name__ = wrapped.__qualname__ = api_name
        wrapped.__doc__ = _document(fn, returns, about)
        return wrapped

    return decorate


def _document(fn: Callable[..., Any], returns: tuple[str, ...], about: str) -> str:
    summary, _, rest = (inspect.getdoc(fn) or "").partition("\nArgs:\n")
    summary = f"{summary.strip()}\n\n{about}" if about else summary
    own_text, _, own_returns = rest.partition("\nReturns:\n")
    own = {}
    for line in own_text.splitlines():
        name, sep, text = line.strip().partition(": ")
        if sep:
            own[name] = text
    names = [n for n in inspect.signature(fn).parameters if n not in ("progress", "request")]
    args = [f"    {n}: {own.get(n) or ARGS.get(n, '')}".rstrip() for n in names]
    lines = [summary.strip(), "", "Args:", *args]
    outs = [line.strip() for line in own_returns.splitlines() if line.strip()] + list(returns)
    return "\n".join(lines + (["", "Returns:", *(f"    {r}" for r in outs)] if outs else []))


def require_image(image: Any) -> Any:
    """The upload, or an ImageError that says how to give one."""
    if image is None or image == "":
        raise xai.ImageError("no image was given: upload a photo (PNG, JPEG, WebP...) or pick an example")
    return image


def plain(value: Any) -> Any:
    """JSON types only (what the browser and a receipt file get); anything else becomes its str()."""
    return json.loads(json.dumps(value, default=str))


def picture(loaded: xai.LoadedModel, view: View, explanation: xai.Explanation, scale: float | None = None) -> Any:
    """The map over the photo, with the critical box where the method found one.

    Alone, a map is shown readable (display.readable_overlay: smoothed to the method's own resolution, clipped at
    robust percentiles, its colour bar in the target's unit, pixel methods as |evidence| beside their sign); with a
    ``scale`` (Compare), maps already put into one unit share that signed scale. The .npy and receipt keep exact values.
    """
    if scale is None:
        overlay = display.readable_overlay(view.rgb, explanation, view.crop_box, task=loaded.task)
    else:
        overlay = render.overlay(
            view.rgb,
            explanation.heatmap,
            view.crop_box,
            scale=scale,
            signed=True,
            alpha=OVERLAY_ALPHA,
            label=f"{explanation.method}: {explanation.target.label} ({explanation.target.direction})",
        )
    box = explanation.extras.get("critical_box")
    if box is not None and overlay.shape[1] == view.rgb.shape[1]:  # one panel (two side by side are wider)
        overlay = render.mark_box(overlay, tuple(box), view.crop_box, model_hw=loaded.input_size)
    return overlay


def badge(scored: Scored) -> str:
    """The scorecard's verdict and reason, then the method's and the scorecard's notes, as Markdown."""
    card, lang = scored.scorecard, language.current()  # the request's language (ui/i18n.speaking sets it)
    word = phrases.say(lang, f"badge_{card.badge}") if f"badge_{card.badge}" in phrases.EN else card.badge
    lines = [f"{BADGE_ICONS.get(card.badge, '')} **{word.upper()}** · {reasons.say(card.reason, lang)}"]
    lines += [f"- {note}" for note in scored.explanation.notes]
    lines += [f"- {reasons.say(note, lang, 'note')}" for note in card.notes]
    return "\n".join(lines)
