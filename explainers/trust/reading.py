"""How to read this: what the picture's colours, outline, grey border and box mean, and the badge's words, in plain
language from a receipt (fixed templates in phrases_guide.py, like report.py's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import registry
from . import language as language_
from . import phrases
from .phrases_guide import say

EXAMPLE_SPEEDUP = 2.2  # the badge's sample reason, "insertion restores the score 2.2x faster than random order"


def how_to_read(receipt: Mapping[str, Any], *, language: str | None = None) -> list[str]:
    """Bullet points (Markdown, without the bullets) for the picture and the badge of one explanation.

    Args:
        receipt: a receipt's ``to_dict``.
        language: "en" or "es"; None: the language set for this request (language.using), else English.
    """
    lang = language_.resolve(language)
    target = receipt["target"]
    unit = say(lang, "unit_output" if target.get("kind") == "regression" else "unit_logit")
    name = str(target["name"])
    if target.get("contrast"):
        name = phrases.say(lang, "rather", a=target["name"], b=target["contrast"])
    raises, lowers = ("raise", "lower") if target.get("direction", "raises") == "raises" else ("lower", "raise")
    lines = [
        say(lang, "colours", unit=unit, name=name, raises=say(lang, raises), lowers=say(lang, lowers)),
        say(lang, "grey", border=_border(receipt, lang)),
    ]
    if (receipt.get("extras") or {}).get("critical_box") is not None:
        lines.append(say(lang, "box"))
    if receipt["method"] == "integrated_gradients":
        lines.append(say(lang, "panels"))
    lines.append(_badge_words(receipt, lang))
    return lines


def _border(receipt: Mapping[str, Any], lang: str) -> str:
    image = receipt["image"]
    box = image.get("crop_box")
    if not box:
        return ""
    left, top, right, bottom = (float(v) for v in box)
    if left <= 0.5 and top <= 0.5 and right >= image["width"] - 0.5 and bottom >= image["height"] - 0.5:
        return say(lang, "whole")
    return say(lang, "border")


def _badge_words(receipt: Mapping[str, Any], lang: str) -> str:
    card = receipt.get("scorecard") or {}
    return say(
        lang,
        "badge",
        method=phrases.method(registry.label(receipt["method"], receipt.get("options")), lang),
        reference=phrases.baseline(card.get("baselines", "blur"), lang),
        speedup=phrases.num(EXAMPLE_SPEEDUP, ".1f", lang),
    )
