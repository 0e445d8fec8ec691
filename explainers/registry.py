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
        variants: choices of its ``variant`` option, value -> label, the default first; empty when it has none.
    """

    name: str
    label: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    compare: Mapping[str, Any] = field(default_factory=dict)
    sanity: Sanity | None = None
    function: ExplainFn | None = field(default=None, compare=False, repr=False)
    variants: Mapping[str, str] = field(default_factory=dict)

    @property
    def explain(self) -> ExplainFn:
        """``function`` when given, else ``methods.<name>.explain``, imported on first use."""
        if self.function is not None:
            return self.function
        return importlib.import_module(f"{__package__}.methods.{self.name}").explain


# The Grad-CAM family: one forward and one batched backward give every CAM variant for every target (methods/gradcam.py;
# which variants a model can use: gradcam.variants(model)). "attention" is gradient-weighted attention rollout for
# ViT-style models (methods/attention.py); it reads every block, so it takes no layer.
GRADCAM_VARIANTS = {
    "gradcam": "Grad-CAM",
    "hirescam": "HiResCAM",
    "gradcam++": "Grad-CAM++",
    "layercam": "LayerCAM",
    "eigencam": "EigenCAM",
    "attention": "Attention rollout",
}

# Grad-CAM reads a ~7x7 grid, so one randomisation draw's correlation swings by +-0.3: the median of three draws (one
# backward each) is kept. The check reruns the map's own variant. EigenCAM reads no gradient but is computed from the
# layer's activations, so it still depends on the weights below that layer: at the final features (the default) the
# re-initialised last stage changes it; at an earlier stage it cannot, and the check rightly fails it there (it
# cannot show what the model's decision uses). Attention rollout reruns on the copy too (its last block is the
# re-initialised stage). IG maps have thousands of free pixels and vary by +-0.03 between draws; 8 steps are enough to
# see whether the map changed (the correlation with an 8-step or a 32-step original differed by <= 0.06 on skimage
# photos). SmoothGrad is kept (up to 4 copies): a smoothed map against an unsmoothed rerun would look less alike than
# the method is (IG from blur, 8 steps x 4 copies: 0.23 against an unsmoothed rerun on the 16 benchmark photos).
METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "gradcam",
            "Grad-CAM",
            defaults={"layer": None, "variant": "gradcam"},
            sanity=Sanity(draws=3),
            variants=GRADCAM_VARIANTS,
        ),
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
            # integrated_gradients.BASELINE, N_STEPS, SMOOTH_SAMPLES (test_registry.py keeps them equal): expected
            # gradients over blurs, 32 samples: mosaics 0.85 / 49% in the right tile, photos 5/16 pass, objects 6/6,
            # 2.52 CPU s (blur 8 x 4 SmoothGrad: 0.73 / 44%, 3/16, 5/6, 2.48 s; bench/RESULTS_faithfulness.md).
            defaults={"n_steps": 32, "baselines": "blurs", "smooth_samples": 0},
            compare={"n_steps": 32, "baselines": "blurs", "smooth_samples": 0},
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


def label(name: str, options: Mapping[str, Any] | None = None) -> str:
    """The method's label (its variant's, when ``options`` name one), or the name itself for anything unknown."""
    if name not in METHODS:
        found = [m.variants[name] for m in METHODS.values() if name in m.variants]
        return found[0] if found else name
    method, variant = METHODS[name], (options or {}).get("variant")
    return method.variants.get(variant, method.label) if isinstance(variant, str) else method.label


def names() -> list[str]:
    """Registry names in display order."""
    return list(METHODS)


# Compare's entries: each method, and each variant of a method with variants, under one key ("hirescam" is Grad-CAM
# with variant "hirescam"; "gradcam" is Grad-CAM's own default). Maps are told apart by these keys (scorecard agreement,
# ranking), since several share a method name.
CLASSIC = ("gradcam", "occlusion", "integrated_gradients")
"""The three method families' default maps: Compare's cheapest full check (bench/e2e.py times it)."""


def entries() -> list[str]:
    """Every Compare entry key, in display order: each method, with a variant's key after its method's."""
    keys: list[str] = []
    for name, method in METHODS.items():
        keys += [name, *(v for v in method.variants if v != name)]
    return keys


def entry(key: str) -> tuple[str, dict[str, Any]]:
    """(method name, the options that pick the variant) for a Compare entry key.

    Raises:
        OptionError: no method or variant has this key.
    """
    if key in METHODS:
        return key, {}
    for name, method in METHODS.items():
        if key in method.variants:
            return name, {"variant": key}
    raise OptionError(f"unknown method {key!r}; choose one of {', '.join(entries())}")


def key(method: str, options: Mapping[str, Any] | None = None) -> str:
    """The entry key of a map made by ``method`` with ``options``: its variant for methods that have variants."""
    variant = (options or {}).get("variant")
    if method in METHODS and isinstance(variant, str) and variant in METHODS[method].variants:
        return variant
    return method


def applicable(model: Any) -> list[str]:
    """The entries this model can run, in display order: variants a model cannot use (attention rollout without
    attention blocks, CAMs without an image-grid layer) are left out; imports the Grad-CAM module on first use.
    """
    usable = set(importlib.import_module(f"{__package__}.methods.gradcam").variants(model))
    return [k for k in entries() if entry(k)[0] != "gradcam" or k in usable]
