"""The counterfactual search's options: defaults, ranges and one validated, JSON-ready record of them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .. import options
from ..errors import OptionError

# Penalty weights are relative to the goal's pull: the hinge gradient is rescaled so its mean magnitude per pixel value
# is 1. So l1 = 1 keeps still every pixel pulled less hard than the average one (about half of them on ImageNet
# photos), l2 = 10 resists a 10-level change about as hard as the average pull, and tv = 0.1 only smooths a little:
# on the benchmark these gave the smallest changes without costing steps (l1 = 2 halves the pixels touched again but
# needs up to 3x the steps for a chosen class).
L2 = 10.0
L1 = 1.0
TV = 0.1
MAX_STEPS = 200
RESTARTS = 3
# The sparsity phase: on the benchmark photos the 5-7 steps that fit in the 2 s budget on a busy CPU (median) cut the
# first valid edit's L1 4x (the 5th-ranked class) to 50x (any other class); the planted cues take up to 60 steps to
# settle. The budget bounds the call in seconds, so a busy CPU ends it early (with the smallest valid edit so far)
# rather than late; it is not applied to the first phase, so it never costs validity.
SHRINK_STEPS = 60
BUDGET = 2.0
CELL = 1  # cells of CELL x CELL pixels are switched on and off together

_MAX_WEIGHT = 1e6  # far past freezing every pixel; larger weights overflow float32 arithmetic
_MAX_STEPS = 10_000
_MAX_RESTARTS = 16
_MAX_BUDGET = 3600.0
_MAX_CELL = 64


@dataclass(frozen=True)
class Settings:
    """Every option that shapes a counterfactual, checked (see search.explain for their meaning)."""

    l2: float = L2
    l1: float = L1
    tv: float = TV
    max_steps: int = MAX_STEPS
    restarts: int = RESTARTS
    seed: int = 0
    shrink_steps: int = SHRINK_STEPS
    budget: float | None = BUDGET
    cell: int = CELL

    def __post_init__(self) -> None:
        checked: dict[str, Any] = {}
        for name in ("l2", "l1", "tv"):
            checked[name] = options.real(getattr(self, name), name, low=0, high=_MAX_WEIGHT, words="a number (0 = off)")
        checked["max_steps"] = options.whole(self.max_steps, "max_steps", low=1, high=_MAX_STEPS)
        checked["restarts"] = options.whole(self.restarts, "restarts", low=1, high=_MAX_RESTARTS)
        checked["seed"] = options.seed(self.seed)
        checked["shrink_steps"] = options.whole(self.shrink_steps, "shrink_steps", low=0, high=_MAX_STEPS, off="off")
        if self.budget is not None:
            words = "a number of seconds (None = no clock)"
            checked["budget"] = options.real(self.budget, "budget", low=0, high=_MAX_BUDGET, words=words)
        checked["cell"] = options.whole(self.cell, "cell", low=1, high=_MAX_CELL, unit="pixels")
        for name, value in checked.items():  # plain floats and ints, as the metrics record them
            object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as recorded in a counterfactual's metrics["options"]."""
        return dataclasses.asdict(self)


def settings(values: dict[str, Any]) -> Settings:
    """Settings from keyword options, refusing names the search does not take.

    Raises:
        OptionError: an unknown option, or one out of range.
    """
    known = {f.name for f in dataclasses.fields(Settings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise OptionError(f"unknown counterfactual option(s) {unknown}; choose from {', '.join(sorted(known))}")
    return Settings(**values)
