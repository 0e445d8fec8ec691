"""Shared validators for options from code, the UI and the API: one place, one message style.

Each says what was expected and what it got: "n_steps must be a whole number from 1 to 1024, got 0".
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

from .errors import OptionError

SEED_MAX = 2**63 - 1  # torch.Generator.manual_seed and numpy's SeedSequence both take any int up to this


def whole(value: Any, name: str, *, low: int, high: int | None = None, unit: str = "", off: str = "") -> int:
    """An integer option (ints and integral floats; never bools) in [low, high].

    Args:
        value: what was given.
        name: the option's name, as the caller knows it.
        low: smallest allowed value.
        high: largest allowed value; None = no upper bound.
        unit: a word after the range ("pixels").
        off: a note on the lowest value ("off").

    Raises:
        OptionError: not a whole number, or out of range.
    """
    lowest = f"{low} ({off})" if off else str(low)
    expected = f"from {lowest} to {high}" if high is not None else f"of at least {lowest}"
    unit = f" {unit}" if unit else ""
    number: int | None = None
    if isinstance(value, bool):
        pass
    elif isinstance(value, numbers.Integral):
        number = int(value)  # exact: a float would round 2**63 - 1 up to 2**63
    elif isinstance(value, numbers.Real) and float(value).is_integer():
        number = int(float(value))
    if number is None or not low <= number <= (high if high is not None else number):
        raise OptionError(f"{name} must be a whole number {expected}{unit}, got {value!r}")
    return number


def real(value: Any, name: str, *, low: float, high: float, low_open: bool = False, words: str = "a number") -> float:
    """A finite float option in [low, high] (or (low, high] with ``low_open``); never a bool.

    Raises:
        OptionError: not a finite number, or out of range.
    """
    bracket = "(" if low_open else "["
    ok = (
        not isinstance(value, bool)
        and isinstance(value, numbers.Real)
        and math.isfinite(float(value))
        and (low < float(value) if low_open else low <= float(value))
        and float(value) <= high
    )
    if not ok:
        raise OptionError(f"{name} must be {words} in {bracket}{low:g}, {high:g}], got {value!r}")
    return float(value)


def seed(value: Any, name: str = "seed") -> int:
    """A random seed: a whole number from 0 to SEED_MAX."""
    return whole(value, name, low=0, high=SEED_MAX)


def choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """One of ``choices``.

    Raises:
        OptionError: anything else, with the list of choices.
    """
    allowed = tuple(choices)
    if not isinstance(value, str) or value not in allowed:
        raise OptionError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
    return value


def parse_number(value: Any, name: str, *, integer: bool = False) -> float | int:
    """A finite number from a UI or API field (text, int or float), or an OptionError that names the field.

    No bare ``int()`` / ``float()``: "abc", None, NaN and 2.5 for a whole number each get their own message.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise OptionError(f"{name} must be a finite number, got {value!r}")
    if integer:
        if number != int(number):
            raise OptionError(f"{name} must be a whole number, got {value!r}")
        return int(number)
    return number
