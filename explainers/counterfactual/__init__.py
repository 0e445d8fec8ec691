"""Counterfactuals: the smallest, smoothest pixel edit that moves the prediction where the user asks."""

from .goals import Goal, parse_goal
from .roundtrip import render
from .search import L1, L2, MAX_STEPS, TV, explain

__all__ = ["L1", "L2", "MAX_STEPS", "TV", "Goal", "explain", "parse_goal", "render"]
