"""The one list of attribution methods: name, label, explain function, UI defaults and which scorecard checks apply.

Light on purpose: importing it does not import torch; a method's module loads the first time its ``explain`` is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import OptionError

if TYPE_CHECKING:
    from .types import ExplainFn


@dataclass(frozen=True)
class Sanity:
    """How the model-randomisation check reruns a gradient method (Adebayo et al., 2018).

    Attributes:
        draws: re-initialised copies whose maps are compared; the median correlation is kept.
        caps: upper bounds on integer options for the reruns (they only need to show whether the map changed).
    """

    draws: int = 1
    caps: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    """One attribution method.

    Attributes:
        name: registry name, used in receipts, the API and ``methods/<name>.py``.
        label: what people read.
        defaults: the options its tab and endpoint start from.
        compare: the options Compare runs it with.
        sanity: how the randomisation check reruns it; None for methods that do not read gradients.
        function: the explain function, for methods that do not live in ``methods/`` (tests register such).
    """

    name: str
    label: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    compare: Mapping[str, Any] = field(default_factory=dict)
    sanity: Sanity | None = None
    function: ExplainFn | None = field(default=None, compare=False, repr=False)

    @property
    def explain(self) -> ExplainFn:
        """``function`` when given, else ``methods.<name>.explain``, imported on first use."""
        if self.function is not None:
            return self.function
        return importlib.import_module(f"{__package__}.methods.{self.name}").explain


# Grad-CAM reads a ~7x7 grid, so one randomisation draw's correlation swings by +-0.3: the median of three draws (one
# backward each) is kept. IG maps have thousands of free pixels and vary by +-0.03 between draws; 8 steps are enough
# to see whether the map changed (the correlation with an 8-step or a 32-step original differed by <= 0.06 on skimage
# photos). SmoothGrad is kept (up to 4 copies): a smoothed map against an unsmoothed rerun would look less alike than
# the method is (IG from blur, 8 steps x 4 copies: 0.23 against an unsmoothed rerun on the 16 benchmark photos).
METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("gradcam", "Grad-CAM", defaults={"layer": None}, sanity=Sanity(draws=3)),
        Method(
            "occlusion",
            "Occlusion",
            # None: occlusion.WINDOW_FRACTION / STRIDE_FRACTION of the input side (32 / 16 px at 224, 12 / 7 at 96).
            defaults={"window": None, "stride": None, "baselines": "blur", "mode": "auto"},
            compare={"mode": "auto"},
        ),
        Method(
            "integrated_gradients",
            "Integrated gradients",
            # integrated_gradients.BASELINE, N_STEPS, SMOOTH_SAMPLES (test_registry.py keeps them equal).
            defaults={"n_steps": 8, "baselines": "blur", "smooth_samples": 4},
            compare={"n_steps": 8, "baselines": "blur", "smooth_samples": 4},
            sanity=Sanity(draws=1, caps={"n_steps": 8, "smooth_samples": 4}),
        ),
    )
}


def get(name: str) -> Method:
    """The registered method called ``name``.

    Raises:
        OptionError: no such method.
    """
    if name not in METHODS:
        raise OptionError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name]


def label(name: str) -> str:
    """The method's label, or the name itself for anything the registry does not know."""
    return METHODS[name].label if name in METHODS else name


def names() -> list[str]:
    """Registry names in display order."""
    return list(METHODS)
