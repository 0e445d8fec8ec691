"""The language a report or headline is written in (English or Spanish), and numbers formatted for it.

The UI sets the language of the request being served (``using``); library callers pass ``language=`` or get English.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

LANGUAGES = ("en", "es")
DEFAULT = "en"
# Spanish writes 0,87 and 12 500 (RAE/ISO 80000: decimal comma, a non-breaking space between thousands) and "96 %".
_SEPARATORS = {"es": str.maketrans({",": "\u00a0", ".": ","})}
_PERCENT = {"en": "%", "es": "\u00a0%"}

_current: contextvars.ContextVar[str] = contextvars.ContextVar("xai_language", default=DEFAULT)


def normalise(tag: str | None) -> str:
    """A supported language from a BCP 47 tag or an Accept-Language header ("es-MX,es;q=0.9" -> "es").

    Anything else (unknown, blank, malformed) falls back to English.
    """
    for part in str(tag or "").split(","):
        primary = part.split(";")[0].strip().replace("_", "-").split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
        if primary and primary != "*":
            return DEFAULT  # the user's first choice is a language we do not speak: English, not their second choice
    return DEFAULT


def current() -> str:
    """The language set for this request (``using``), else English."""
    return _current.get()


def resolve(language: str | None) -> str:
    """``language`` normalised, or the current one when None."""
    return current() if language is None else normalise(language)


@contextlib.contextmanager
def using(language: str | None) -> Iterator[str]:
    """Within the block, reports and headlines made without an explicit language are in ``language``."""
    token = _current.set(normalise(language))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def number(value: float, spec: str, language: str) -> str:
    """``format(value, spec)`` with the language's decimal and thousands separators."""
    text = format(float(value), spec)
    table = _SEPARATORS.get(language)
    return text.translate(table) if table else text


def percent(text: str, language: str) -> str:
    """A number already formatted, as a percentage in the language's style ("96%" / "96 %")."""
    return f"{text}{_PERCENT.get(language, '%')}"
