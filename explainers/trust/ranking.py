"""Which map to believe: Compare's maps ranked by their scorecards, against the benchmark's two controls (a random
order of cells and a blurred copy of the map), and the sentence that says which one to trust and why.

Works on receipts (``receipt.build(...).to_dict()``), so the ranking a report states is the one the receipts carry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .. import registry
from . import language as language_
from . import phrases
from .phrases_guide import say

BADGE_ORDER = {"pass": 0, "warn": 1, "fail": 2}
"""A passing map outranks any warning, a warning any failure; within a badge the higher score comes first."""
TARGET_FREE = frozenset({"eigencam"})
"""Entries whose map is the same for every target: within a badge they rank after the rest, since they cannot say why
this target (EigenCAM is the layer's strongest activation pattern; it passes on photos whose subject is the target)."""


def score(card: Mapping[str, Any] | None) -> float:
    """A scorecard's ranking score: its gain over random order (expectation 0), less what its blurred copy gains
    beyond it (a map that loses to its own blurred copy is right only about roughly where); -inf when untested.
    """
    curves = (card or {}).get("curves")
    if not curves:
        return -math.inf
    gain, blurred = float(curves["gain"]), curves.get("blurred_gain")
    return gain - max(0.0, float(blurred) - gain) if blurred is not None else gain


def rank(receipts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One rank block per receipt, in the receipts' order: position (1 = trust first), of, key, label, badge, gain,
    blurred_gain, score, and trusted (the first position, when its check passes).

    Ties keep the receipts' order (their display order).
    """
    facts = []
    for r in receipts:
        card = r.get("scorecard") or {}
        curves = card.get("curves") or {}
        facts.append(
            {
                "key": registry.key(str(r["method"]), r.get("options")),
                "label": registry.label(str(r["method"]), r.get("options")),
                "badge": card.get("badge", "warn"),
                "gain": curves.get("gain"),
                "blurred_gain": curves.get("blurred_gain"),
                "score": score(card),
            }
        )
    order = sorted(
        range(len(facts)),
        key=lambda i: (BADGE_ORDER.get(facts[i]["badge"], 1), facts[i]["key"] in TARGET_FREE, -facts[i]["score"], i),
    )
    for position, i in enumerate(order, start=1):
        facts[i].update(position=position, of=len(facts), trusted=position == 1 and facts[i]["badge"] == "pass")
        if not math.isfinite(facts[i]["score"]):
            facts[i]["score"] = None  # JSON has no -inf
    return facts


def ranked(receipts: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The receipts in their ``rank`` blocks' order (receipts without one keep their place at the end)."""
    return sorted(receipts, key=lambda r: (r.get("rank") or {}).get("position", math.inf))


def trust_sentence(receipts: Sequence[Mapping[str, Any]], *, language: str | None = None) -> str:
    """The "trust X because ..." sentence from receipts that carry ``rank`` blocks; "" when none does.

    Args:
        receipts: receipts' ``to_dict``, each with its ``rank`` block (see ``rank``).
        language: "en" or "es"; None: the language set for this request (language.using), else English.
    """
    lang = language_.resolve(language)
    ordered = [r for r in ranked(receipts) if r.get("rank")]
    if not ordered:
        return ""
    best = ordered[0]["rank"]
    rest = [r["rank"] for r in ordered[1:]]
    runner = say(lang, "runner", label=_label(rest[0], lang), facts=_facts(rest[0], lang)) if rest else ""
    if best["badge"] in ("pass", "warn"):
        return say(lang, f"trust_{best['badge']}", label=_label(best, lang), facts=_facts(best, lang), runner=runner)
    return say(lang, "trust_fail")


def _facts(block: Mapping[str, Any], lang: str) -> str:
    parts = [_badge(block["badge"], lang)]
    if block.get("gain") is not None:
        parts.append(say(lang, "fact_gain", gain=phrases.num(block["gain"], ".2f", lang)))
    if block.get("blurred_gain") is not None:
        parts.append(say(lang, "fact_blurred", gain=phrases.num(block["blurred_gain"], ".2f", lang)))
    return "; ".join(parts)


def table(receipts: Sequence[Mapping[str, Any]], *, language: str | None = None) -> str:
    """The ranking as a Markdown table narrow enough for a phone: position, method, verdict, and the gain over random
    order (whose expectation is 0) beside its blurred copy's.

    Args:
        receipts: receipts' ``to_dict``, each with its ``rank`` block (see ``rank``).
        language: "en" or "es"; None: the language set for this request (language.using), else English.
    """
    lang = language_.resolve(language)
    rows = [say(lang, "table_header"), "|---|---|---|---|"]
    for r in ranked(receipts):
        block = r.get("rank") or {}
        gains = f"{_number(block.get('gain'), lang)} / {_number(block.get('blurred_gain'), lang)}"
        label = phrases.method(block["label"], lang) if "label" in block else r["method"]
        verdict = _badge(block["badge"], lang) if block.get("badge") else ""
        rows.append(f"| {block.get('position', '')} | {label} | {verdict} | {gains} |")
    return "\n".join(rows)


def title(*, language: str | None = None) -> str:
    """The table's title line (Markdown) in ``language`` (None: the request's, else English)."""
    return say(language_.resolve(language), "table_title")


def _label(block: Mapping[str, Any], lang: str) -> str:
    return phrases.method(block["label"], lang)


def _badge(badge: str, lang: str) -> str:
    """A badge's word ("pass", "aprobado"); one without a word stays as it is."""
    return phrases.say(lang, f"badge_{badge}") if f"badge_{badge}" in phrases.EN else badge


def _number(value: Any, lang: str) -> str:
    return "–" if value is None else phrases.num(float(value), ".2f", lang)
