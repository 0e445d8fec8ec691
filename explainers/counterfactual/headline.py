"""What a counterfactual did, in one line: "espresso 96% -> cup 41%", "calories 312 kcal -> 350 kcal (protein held at
12 g ± 5)", "cat off (31%) -> on (81%)".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import OptionError
from ..models.tasks import user_scores
from ..trust import language as language_
from ..types import Counterfactual, LoadedModel, Prediction
from .goals import Objective

# The headline's words per language (same keys in each); numbers follow the language too (decimal comma in Spanish).
WORDS = {
    "en": {"on": "on", "off": "off", "held": "held at", "now": "now", "missed": "goal not reached"},
    "es": {"on": "sí", "off": "no", "held": "fijado en", "now": "ahora", "missed": "objetivo no alcanzado"},
}


def describe(model: LoadedModel, objective: Objective, before: Prediction) -> dict[str, Any]:
    """The resolved goal, JSON-ready and in user units, as headline reads it from a Counterfactual's metrics.

    Returns:
        kind ("other", "class", "on", "off" or "band") and name (the output aimed at, or left for "other"); for a band
        also value and tolerance of the target, unit, and held: [{name, value (before), tolerance, unit}].
    """
    task = model.task
    out: dict[str, Any] = {"kind": objective.kind, "name": task.names[objective.index]}
    if objective.kind != "band":
        return out
    units = task.units or ("",) * task.num_outputs
    std = task.target_std or (1.0,) * task.num_outputs
    index, centre, tolerance = objective.bands[0]
    raw = np.array(before.outputs, dtype=np.float64)
    raw[index] = centre
    out.update(value=float(user_scores(task, raw)[index]), tolerance=tolerance * std[index], unit=units[index])
    out["held"] = [
        {"name": task.names[i], "value": float(before.scores[i]), "tolerance": t * std[i], "unit": units[i]}
        for i, _, t in objective.bands[1:]
    ]
    return out


def headline(cf: Counterfactual, *, language: str | None = None) -> str:
    """The change in one line, from the counterfactual's before and after predictions and its goal.

    multiclass: "espresso 96% -> cup 41%" (top class before -> top class after); multi-label: "cat off (31%) -> on
    (81%)"; regression: "calories 312 kcal -> 350 kcal (protein held at 12 g ± 5)", with ", now 13 g" after a held
    output that moved. An edit that missed its goal ends "(goal not reached: <request>)". ``language`` "es" writes
    it in Spanish ("espresso 96 % -> cup 41 %", "cat no (31 %) -> sí (81 %)"); None: the language the UI set for the
    request, else English.

    Raises:
        OptionError: the counterfactual's metrics carry no goal (it was not made by counterfactual.explain).
    """
    goal = cf.metrics.get("goal")
    if not isinstance(goal, dict) or "kind" not in goal:
        raise OptionError("this counterfactual's metrics carry no 'goal'; make it with counterfactual.explain")
    lang = language_.resolve(language)
    words = WORDS.get(lang, WORDS["en"])
    before, after = cf.before, cf.after
    if goal["kind"] in ("other", "class"):
        b, a = before.top[0], after.top[0]
        text = f"{b[0]} {_percent(b[1], lang)} -> {a[0]} {_percent(a[1], lang)}"
    elif goal["kind"] in ("on", "off"):
        i = before.names.index(goal["name"])
        p, q = float(before.scores[i]), float(after.scores[i])
        was, now = (words["on" if goal["name"] in {n for n, _ in pred.top} else "off"] for pred in (before, after))
        text = f"{goal['name']} {was} ({_percent(p, lang)}) -> {now} ({_percent(q, lang)})"
    else:
        i = before.names.index(goal["name"])
        unit = f" {goal['unit']}" if goal["unit"] else ""
        text = f"{goal['name']} {_number(before.scores[i], lang)}{unit} -> {_number(after.scores[i], lang)}{unit}"
        held = [_held(h, float(after.scores[before.names.index(h["name"])]), lang) for h in goal.get("held", [])]
        if held:
            text += f" ({'; '.join(held)})"
    return text if cf.valid else f"{text} ({words['missed']}: {cf.request})"


def _held(held: dict[str, Any], now: float, lang: str = "en") -> str:
    unit = f" {held['unit']}" if held["unit"] else ""
    words = WORDS.get(lang, WORDS["en"])
    text = f"{held['name']} {words['held']} {_number(held['value'], lang)}{unit} ± {_number(held['tolerance'], lang)}"
    same = _number(now) == _number(held["value"])
    return text if same else f"{text}, {words['now']} {_number(now, lang)}{unit}"


def _percent(p: float, lang: str = "en") -> str:
    """Whole percent, except near 0 and 100 where that would read as certain."""
    value = 100 * float(p)
    spec = ".1f" if 0 < value < 1 or 99 < value < 100 else ".0f"
    return language_.percent(language_.number(value, spec, lang), lang)


def _number(value: float, lang: str = "en") -> str:
    """Four significant digits, never in exponent form for everyday magnitudes."""
    value = float(value)
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        spec = ".3g"
    elif abs(value) >= 1000:
        spec = ",.0f"
    else:
        spec = ".4g"
    return language_.number(value, spec, lang)
