"""The page in English or Spanish: Gradio's I18n table (ui/locales/es.json), keyed by the English text itself.

The tab modules write plain English; ``localise(demo)`` runs once on the built page and turns each visible string
(label, info, placeholder, button text, static Markdown, tab and accordion titles, choice names) into a translation
key, which the browser shows in its language (navigator.language; Gradio's Settings panel, footer "Settings" or
``?view=settings``, overrides it). Choices stay values: only their display names are translated, so the API is
unchanged. A small head script mirrors the page's language into a cookie, so handlers write reports and error
messages in it (``speaking``); without the cookie the request's Accept-Language decides; unknown languages get English.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
from gradio import utils as gradio_utils
from gradio.i18n import I18nData

from explainers.trust import language

F = TypeVar("F", bound=Callable[..., Any])

LOCALES = Path(__file__).with_name("locales")
COOKIE = "xai_lang"
_TABLE = json.loads((LOCALES / "es.json").read_text(encoding="utf-8"))
SPANISH: dict[str, str] = _TABLE["ui"]
# Error messages shown to users: (English regex, Spanish replacement using its groups), first match wins.
MESSAGES: dict[str, list[tuple[re.Pattern[str], str]]] = {
    "es": [(re.compile(pattern, re.DOTALL), spanish) for pattern, spanish in _TABLE["messages"]]
}
# The browser's page language (Gradio sets <html lang> from navigator.language or the Settings panel) as a cookie,
# sent with every queue request; kept up to date when the user switches language.
HEAD = (
    "<script>(function(){var set=function(){document.cookie='" + COOKIE + "='+"
    "encodeURIComponent(document.documentElement.lang||'en')+';path=/;SameSite=Lax';};"
    "new MutationObserver(set).observe(document.documentElement,{attributes:true,attributeFilter:['lang']});"
    "set();})();</script>"
)
_TEXT_ATTRS = ("label", "info", "placeholder")
_VALUE_TEXT = (gr.Markdown, gr.Button, gr.DownloadButton, gr.UploadButton)


def launch_options() -> dict[str, Any]:
    """What ``launch`` needs for the translations: the I18n table and the head script that reports the language."""
    return {"i18n": gr.I18n(en={}, es=SPANISH), "head": HEAD}


def texts(demo: gr.Blocks) -> list[str]:
    """Every English string the built page shows (before localise), in page order, without repeats."""
    found: dict[str, None] = {demo.title: None} if isinstance(demo.title, str) and _is_text(demo.title) else {}
    for block in demo.blocks.values():
        for _, text in _strings(block):
            found.setdefault(text)
    return list(found)


def missing(demo: gr.Blocks) -> list[str]:
    """The page's strings that have no Spanish entry in ui/locales/es.json (add them there, value = Spanish)."""
    return [text for text in texts(demo) if text not in SPANISH]


def localise(demo: gr.Blocks) -> gr.Blocks:
    """Turn the page's strings into translation keys, in place; the API description keeps the English labels.

    Call once, on the finished Blocks (after every tab is built), and launch with ``launch_options()``.
    """
    for block in demo.blocks.values():
        for attr, text in _strings(block):
            if attr == "choices":
                continue  # the browser translates plain choice names itself (values stay as they are)
            key = I18nData(text)
            setattr(block, attr, str(key) if attr == "value" else key)
    if isinstance(demo.title, str) and _is_text(demo.title):
        demo.title = I18nData(demo.title)
    english_api = demo.get_api_info

    @functools.wraps(english_api)
    def get_api_info(*args: Any, **kwargs: Any) -> Any:
        return english(english_api(*args, **kwargs))

    demo.get_api_info = get_api_info  # type: ignore[method-assign]
    return demo


def request_language(request: gr.Request | None) -> str:
    """The language of the page that sent ``request``: its cookie, else Accept-Language, else English."""
    if request is None:
        return language.DEFAULT
    cookie = (getattr(request, "cookies", None) or {}).get(COOKIE)
    if cookie:
        return language.normalise(cookie)
    headers = getattr(request, "headers", None) or {}
    return language.normalise(headers.get("accept-language"))


def message(text: str, lang: str) -> str:
    """A user-facing error message in ``lang`` where the table has it, else as it is."""
    for pattern, spanish in MESSAGES.get(lang, []):
        match = pattern.fullmatch(text)
        if match:
            return match.expand(spanish)
    return text


def speaking(fn: F) -> F:
    """A handler that runs in its request's language: reports and headlines made without an explicit language use it,
    and gr.Error messages are translated. The handler gains a gr.Request argument that Gradio fills (no API change).
    """
    signature = inspect.signature(fn)
    hints = gradio_utils.get_type_hints(fn)
    own = next((n for n in signature.parameters if hints.get(n) in (gr.Request, gr.Request | None)), None)
    name = own or "i18n_request"

    def split(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
        bound = wrapper_signature.bind_partial(*args, **kwargs).arguments
        request = bound.get(name)
        if own is None and name in bound:
            index = list(wrapper_signature.parameters).index(name)
            if len(args) > index:
                args = args[:index] + args[index + 1 :]
            kwargs = {k: v for k, v in kwargs.items() if k != name}
        return request, args, kwargs

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
            request, args, kwargs = split(args, kwargs)
            lang = request_language(request)
            with contextlib.closing(fn(*args, **kwargs)) as steps:
                while True:
                    with _speaking(lang):
                        item = next(steps, _DONE)
                    if item is _DONE:
                        return
                    yield item

        wrapper: Callable[..., Any] = stream
    else:

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            request, args, kwargs = split(args, kwargs)
            with _speaking(request_language(request)):
                return fn(*args, **kwargs)

        wrapper = call

    wrapper_signature = signature
    if own is None:
        params = list(signature.parameters.values())
        extra = inspect.Parameter(
            name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request | None
        )
        last = next(
            (i for i, p in enumerate(params) if p.kind in (p.VAR_POSITIONAL, p.KEYWORD_ONLY, p.VAR_KEYWORD)), None
        )
        params.insert(len(params) if last is None else last, extra)
        wrapper_signature = signature.replace(parameters=params)
        wrapper.__signature__ = wrapper_signature  # type: ignore[attr-defined]
        wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), name: gr.Request | None}
    return wrapper  # type: ignore[return-value]


_DONE = object()


@contextlib.contextmanager
def _speaking(lang: str) -> Iterator[None]:
    with language.using(lang):
        try:
            yield
        except gr.Error as exc:
            translated = message(str(exc.message), lang)
            if translated == exc.message:
                raise
            raise gr.Error(translated, title=exc.title) from exc


def _strings(block: Any) -> Iterator[tuple[str, str]]:
    """(attribute, English text) for each visible string of one block."""
    for attr in _TEXT_ATTRS:
        text = getattr(block, attr, None)
        if isinstance(text, str) and _is_text(text):
            yield attr, text
    if isinstance(block, _VALUE_TEXT) and isinstance(block.value, str) and _is_text(block.value):
        yield "value", block.value
    for choice in getattr(block, "choices", None) or []:
        shown = choice[0] if isinstance(choice, (tuple, list)) else choice
        if isinstance(shown, str) and _is_text(shown):
            yield "choices", shown


def _is_text(text: str) -> bool:
    # Gradio's key marker ends at the first "}": a text with one cannot be a key and stays English.
    return bool(text.strip()) and "__i18n__" not in text and "}" not in text


def english(value: Any) -> Any:
    """``value`` with each translation key back to its English text, however it travels: an I18nData, the marker
    string Gradio sends ("__i18n__{...}"), or inside dicts and lists (the API description, a page config).
    """
    if isinstance(value, I18nData):
        return value.key
    if isinstance(value, str) and value.startswith("__i18n__"):
        with contextlib.suppress(ValueError, KeyError):
            return json.loads(value[len("__i18n__") :])["key"]
    if isinstance(value, dict):
        if value.get("__type__") == "translation_metadata" and "key" in value:
            return value["key"]
        return {k: english(v) for k, v in value.items()}
    if isinstance(value, list):
        return [english(v) for v in value]
    return value
