"""Counterfactuals: the smallest, smoothest pixel edit that moves the prediction where the user asks."""

from .goals import Goal, other_classes, parse_goal
from .headline import headline
from .roundtrip import render
from .search import explain, explain_many, success_rate
from .settings import BUDGET, CELL, L1, L2, MAX_STEPS, SHRINK_STEPS, TV, Settings

__all__ = [
    "BUDGET",
    "CELL",
    "L1",
    "L2",
    "MAX_STEPS",
    "SHRINK_STEPS",
    "TV",
    "Goal",
    "Settings",
    "explain",
    "explain_many",
    "headline",
    "other_classes",
    "parse_goal",
    "render",
    "success_rate",
]
