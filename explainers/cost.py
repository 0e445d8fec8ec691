"""ZeroGPU duration estimates (seconds) from a job's size: occlusion windows, IG gradient passes, search steps.

Pure arithmetic on options and the model's input size, so the ZeroGPU wrappers can ask for a GPU slot that fits the
job before it starts (a shorter request waits less in ZeroGPU's queue; a job past its request may be aborted).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from . import registry
from .counterfactual import BUDGET, MAX_STEPS, SHRINK_STEPS
from .methods import occlusion

OVERHEAD_S = 15  # loading from memory, preparing the image, the scorecard and the pictures around the maps
GRADCAM_S = 5  # one forward and one backward pass
OCCLUSION_WINDOWS_PER_S = 20
IG_PASSES_PER_S = 16  # forward+backward passes
CF_OVERHEAD_S = 20
CF_STEPS_PER_S = 10  # about 0.1 s a step for a batch of restarts
# The most ZeroGPU grants one call (about 5 minutes, zero-gpu-explorers/README discussion 7). Sizes the methods refuse
# (10**9 IG steps) then ask for this instead of an absurd request; the method's own message still reaches the user.
MAX_S = 300


def explain_seconds(options: Mapping[str, Mapping[str, Any]], input_size: tuple[int, int]) -> int:
    """Seconds for the maps of one or more methods on one image, with their scorecards.

    Args:
        options: method name -> the options it runs with (missing ones count at the registry's defaults).
        input_size: the model's input (height, width), over which occlusion slides its window.
    """
    work = sum(method_seconds(name, opts, input_size) for name, opts in options.items())
    return min(MAX_S, OVERHEAD_S + work)


def method_seconds(method: str, options: Mapping[str, Any], input_size: tuple[int, int]) -> int:
    """Seconds one method's map takes beyond the shared overhead (Grad-CAM's for methods without a cost model)."""
    defaults = registry.METHODS[method].defaults if method in registry.METHODS else {}

    def whole(key: str) -> int:
        value = options.get(key)
        return int((defaults.get(key) if value is None else value) or 0)  # 0 given stays 0 (smooth_samples: off)

    if method == "occlusion":
        h, w = input_size
        side = min(h, w)  # no window (or stride) = the method's own fraction of the shorter side
        window = max(1, whole("window") or round(side * occlusion.WINDOW_FRACTION))
        stride = max(1, whole("stride") or round(side * occlusion.STRIDE_FRACTION))
        windows = (max(0, h - window) // stride + 1) * (max(0, w - window) // stride + 1)
        return windows // OCCLUSION_WINDOWS_PER_S
    if method == "integrated_gradients":
        passes = max(1, whole("n_steps")) * max(1, whole("smooth_samples"))
        return passes // IG_PASSES_PER_S
    return GRADCAM_S


def counterfactual_seconds(options: Mapping[str, Any]) -> int:
    """Seconds for a counterfactual search: its steps and shrinking steps (or time budget), loading and rendering."""
    budget = options.get("budget", BUDGET)
    shrink = math.ceil(float(budget)) if isinstance(budget, (int, float)) and math.isfinite(budget) else 0
    steps = int(options.get("max_steps", MAX_STEPS)) + int(options.get("shrink_steps", SHRINK_STEPS))
    return min(MAX_S, CF_OVERHEAD_S + steps // CF_STEPS_PER_S + max(0, shrink))
