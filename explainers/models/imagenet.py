"""Human-readable ImageNet-1k class names from timm's bundled WordNet lemmas."""

from __future__ import annotations

from typing import Any

from timm.data import ImageNetInfo


def imagenet_names(info: Any = None) -> list[str]:
    """Short, unique, human-readable ImageNet-1k names ("fox squirrel"), from timm's bundled WordNet lemmas."""
    info = info or ImageNetInfo()
    names: list[str] = []
    seen: set[str] = set()
    for i in range(info.num_classes()):
        lemmas = [s.strip() for s in info.index_to_description(i).split(",")]
        name = lemmas[0]
        if name in seen:  # "crane" the bird vs the machine: fall back to the next lemma, then the index
            name = next((f"{name} ({lem})" for lem in lemmas[1:]), f"{name} ({i})")
        seen.add(name)
        names.append(name)
    return names
