"""How to read this: what the picture's colours, outline, grey border and box mean, and the badge's words, in plain
language from a receipt (fixed templates, like report.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import registry


def how_to_read(receipt: Mapping[str, Any]) -> list[str]:
    """Bullet points (Markdown, without the bullets) for the picture and the badge of one explanation."""
    target = receipt["target"]
    unit = "output" if target.get("kind") == "regression" else "logit"
    name = f"{target['name']} rather than {target['contrast']}" if target.get("contrast") else str(target["name"])
    raises, lowers = ("raise", "lower") if target.get("direction", "raises") == "raises" else ("lower", "raise")
    lines = [
        (
            f"**Colours** are in the colour bar's unit (the {unit} of {name}): red areas {raises} it, blue areas "
            f"{lowers} it, and the stronger the colour the larger the effect. Colours saturate at the bar's ends, a "
            "high percentile of the map; a few pixels can go beyond, so the map's max (written above the bar) may be "
            "larger than the end (marked >=). A black outline surrounds where the map reaches half the bar's end."
        ),
        (
            "The photo is shown **in grey** under the map, so the colours stay visible on a red or orange subject. "
            + _border(receipt)
        ),
    ]
    if (receipt.get("extras") or {}).get("critical_box") is not None:
        lines.append(
            "The **yellow box** is occlusion's critical window: covering that window with the reference drops the "
            "score the most."
        )
    if receipt["method"] == "integrated_gradients":
        lines.append("Integrated gradients shows **two panels**: how much each area counts, and its sign.")
    lines.append(_badge_words(receipt))
    return lines


def _border(receipt: Mapping[str, Any]) -> str:
    image = receipt["image"]
    box = image.get("crop_box")
    if not box:
        return ""
    left, top, right, bottom = (float(v) for v in box)
    if left <= 0.5 and top <= 0.5 and right >= image["width"] - 0.5 and bottom >= image["height"] - 0.5:
        return "The model saw the whole photo."
    return (
        "The **darker grey border** lies outside the model's crop: the model never saw it, so the map says nothing "
        "there."
    )


def _badge_words(receipt: Mapping[str, Any]) -> str:
    card = receipt.get("scorecard") or {}
    reference = card.get("baselines", "blur")
    method = registry.label(receipt["method"], receipt.get("options"))
    return (
        f"**The badge** tests the map: the picture is cut into cells and the cells {method} ranks highest are put back "
        f"first into a copy where every cell is replaced by the {reference} reference (*insertion*), or taken away "
        'first from the photo (*deletion*). "Insertion restores the score 2.2x faster than random order" means the '
        "model's score comes back 2.2 times as fast as when the same cells are put back in a random order. The *gain* "
        "is insertion's area minus deletion's: 0 for random order, higher is better; a blurred copy of the map is the "
        "second control (a map that loses to it is right only about roughly where). The randomisation check reruns "
        "the method on a model whose last stage is re-initialised: a map that barely changes shows the photo, not the "
        "model."
    )
