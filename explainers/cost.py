"""Job sizes and durations: ZeroGPU requests from occlusion windows, IG gradient passes and search steps, and the
estimate a visitor reads before a long job, from the measured time of one forward on this device.

The ZeroGPU requests are pure arithmetic on options and the model's input size, so the wrappers can ask for a GPU
slot that fits the job before it starts (a shorter request waits less in ZeroGPU's queue; a job past its request may
be aborted).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from typing import Any

import torch

from . import registry
from .counterfactual import BUDGET, MAX_STEPS, SHRINK_STEPS
from .errors import OptionError
from .methods import integrated_gradients, occlusion
from .types import LoadedModel

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
        return occlusion_windows({"window": whole("window"), "stride": whole("stride")}, input_size) // (
            OCCLUSION_WINDOWS_PER_S
        )
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


# Work in forwards of one image (batch 1), measured on EfficientNet-Lite0 at 224x224 on one CPU thread (0.039-0.042 s
# a forward): an occlusion window costs 1.4 (its blurred copy, batched), a coarse-to-fine window a quarter of that plus
# the coarse pass; a gradient pass (forward + backward through captum) 2.5; Grad-CAM's map 5. The scorecard
# (deletion/insertion, 8 steps, and the model-randomisation check) adds 50; integrated gradients adds 170 (its baseline
# and a randomisation check that reruns a short IG). Estimated / measured on coffee.jpg, whole job with scorecard:
# Grad-CAM 2.1 / 2.3 s; occlusion 32/16 dense 11.2 / 10.7 s, coarse-to-fine 4.7 / 5.1 s, 16/8 dense 44.6 / 43.1 s;
# IG 16 steps 8.2 / 9.4 s, 32 steps 9.8 / 10.8 s, 64 x 2 SmoothGrad 20.6 / 16.5 s; the IG 128 x 4 57 / 63 s.
WINDOW_FORWARDS = 1.4
COARSE_SHARE = 0.3
GRADIENT_PASS_FORWARDS = 2.5
GRADCAM_FORWARDS = 5.0
SCORECARD_FORWARDS = {"integrated_gradients": 170.0}
DEFAULT_SCORECARD_FORWARDS = 50.0
_forward_s: dict[tuple[str, str | None, str, str], float] = {}
_forward_lock = threading.Lock()


def forward_seconds(model: LoadedModel) -> float:
    """Seconds one forward of one image takes on the model's device, measured once per model (best of three)."""
    key = (model.model_id, model.revision, model.weights_sha256, str(model.device))
    with _forward_lock:
        known = _forward_s.get(key)
    if known is not None:
        return known
    image = torch.zeros(1, 3, *model.input_size, device=model.device)
    times = []
    with torch.inference_mode():
        model.model(image)  # warm-up: first-call allocations and kernel selection
        for _ in range(3):
            start = time.perf_counter()
            model.model(image)
            if model.device.type == "cuda":
                torch.cuda.synchronize(model.device)
            times.append(time.perf_counter() - start)
    with _forward_lock:
        _forward_s[key] = min(times)
    return min(times)


def forwards(method: str, options: Mapping[str, Any], input_size: tuple[int, int], *, cuda: bool = False) -> float:
    """The work of one method's map and its scorecard, in forwards of one image (the constants above).

    Args:
        method: the registry name.
        options: the options it runs with (missing ones count at the registry's defaults).
        input_size: the model's input (height, width), over which occlusion slides its window.
        cuda: whether the model runs on a GPU (occlusion's "auto" mode is dense there, coarse-to-fine elsewhere).

    Raises:
        OptionError: integrated gradients past the method's budget of gradient evaluations (it would refuse them).
    """
    defaults = registry.METHODS[method].defaults if method in registry.METHODS else {}

    def whole(key: str) -> int:
        value = options.get(key)
        return int((defaults.get(key) if value is None else value) or 0)

    scoring = SCORECARD_FORWARDS.get(method, DEFAULT_SCORECARD_FORWARDS)
    if method == "occlusion":
        mode = options.get("mode") or defaults.get("mode", "auto")
        dense = mode == "dense" or (mode == "auto" and cuda)
        sizes = {"window": whole("window"), "stride": whole("stride")}
        return scoring + occlusion_windows(sizes, input_size) * WINDOW_FORWARDS * (1.0 if dense else COARSE_SHARE)
    if method == "integrated_gradients":
        passes = max(1, whole("n_steps")) * max(1, whole("smooth_samples"))
        if passes > integrated_gradients.MAX_EVALUATIONS:  # said before the job, not after pressing the button
            raise OptionError(
                f"n_steps x smooth_samples = {passes:,} gradient evaluations, more than the "
                f"{integrated_gradients.MAX_EVALUATIONS:,} allowed; lower either"
            )
        return scoring + passes * GRADIENT_PASS_FORWARDS
    return scoring + GRADCAM_FORWARDS


def occlusion_windows(options: Mapping[str, Any], input_size: tuple[int, int]) -> int:
    """How many windows dense occlusion evaluates at these options (0 or none = the method's own fractions)."""
    h, w = input_size
    side = min(h, w)
    window = max(1, int(options.get("window") or 0) or round(side * occlusion.WINDOW_FRACTION))
    stride = max(1, int(options.get("stride") or 0) or round(side * occlusion.STRIDE_FRACTION))
    return (max(0, h - window) // stride + 1) * (max(0, w - window) // stride + 1)
