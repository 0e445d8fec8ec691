"""The scorecard's verdict sentences (scorecard.verdict) in Spanish, read back from the English (see readback).

EN is what scorecard.py writes, word for word; tests run scorecard.verdict's own sentences through it.
"""

from __future__ import annotations

from . import readback

# Which templates a placeholder may hold (a sentence nests: reason -> found, beat, note).
FAMILIES = {
    "reason": ("fail_random", "no_curves", "fail_gain", "warn_gain", "coarse", "blurred", "noted", "pass"),
    "found": ("both", "deletion", "insertion", "neither"),
    "beat": ("beat_blur", "beat_as_good", "beat_not", "random"),
    "note": ("partly",),
}
# What each placeholder may match: numbers, a method label, or a nested phrase (found has no brackets or colon).
FIELDS = {"found": r"[^():]+?", "beat": r".+?", "note": r".+", "method": r".+?"}

EN = {
    "fail_random": (
        "the map barely changes when the model's last stage is re-initialised (rank correlation {rho}): it shows the "
        "picture more than what the model learned"
    ),
    "partly": (
        "the map changes only partly when the model's last stage is re-initialised (rank correlation {rho}); part of "
        "it reflects the picture rather than the model"
    ),
    "no_curves": (
        "the reference image scores like the image itself for this target, so removing pixels cannot test this map"
    ),
    "fail_gain": (
        "removing the pixels this map ranks highest changes the score less than removing them in random order: the "
        "map points away from what the model uses"
    ),
    "warn_gain": "the map is no better than random order at finding what the model uses (gain {gain}, below {limit})",
    "coarse": (
        "{found} ({beat}), but {method}'s layer is only {rows}x{cols} here, too coarse to say where within a cell; "
        "check occlusion or integrated gradients"
    ),
    "blurred": (
        "{found}, but a blurred copy of the map does better (gain {blurred} against its {gain}): only roughly where "
        "it points is borne out, not its detail; read it at a coarser scale"
    ),
    "noted": "{found} ({beat}), but {note}",
    "pass": "{found}: {beat}, so the map points at evidence the model uses",
    "random": "better than random order (gain {gain}, random's expectation 0)",
    "beat_blur": "better than random order (gain {gain}, random's expectation 0) and than a blurred copy of itself "
    "({blurred})",
    "beat_as_good": "better than random order (gain {gain}, random's expectation 0) and as good as a blurred copy of "
    "itself ({blurred}, within {margin})",
    "beat_not": "better than random order (gain {gain}, random's expectation 0) but not than a blurred copy of itself "
    "({blurred})",
    "both": (
        "deletion drops the score {deletion}x faster than random order and insertion restores it {insertion}x faster"
    ),
    "deletion": "deletion drops the score {deletion}x faster than random order",
    "insertion": "insertion restores the score {insertion}x faster than random order",
    "neither": "insertion and deletion beat random order by {gain}",
}

ES = {
    "fail_random": (
        "el mapa apenas cambia cuando se reinicializa la última etapa del modelo (correlación de rangos {rho}): "
        "muestra la imagen más que lo que el modelo aprendió"
    ),
    "partly": (
        "el mapa cambia solo en parte cuando se reinicializa la última etapa del modelo (correlación de rangos "
        "{rho}); una parte refleja la imagen más que el modelo"
    ),
    "no_curves": (
        "la imagen de referencia puntúa igual que la propia imagen para este objetivo, así que quitar píxeles no "
        "puede poner a prueba este mapa"
    ),
    "fail_gain": (
        "quitar los píxeles que este mapa pone primero cambia la puntuación menos que quitarlos en orden aleatorio: "
        "el mapa señala lejos de lo que el modelo usa"
    ),
    "warn_gain": (
        "el mapa no encuentra lo que el modelo usa mejor que un orden aleatorio (ganancia {gain}, por debajo de "
        "{limit})"
    ),
    "coarse": (
        "{found} ({beat}), pero la capa de {method} es aquí de solo {rows}x{cols}, demasiado gruesa para decir dónde "
        "dentro de una celda; mire la oclusión o los gradientes integrados"
    ),
    "blurred": (
        "{found}, pero una copia desenfocada del mapa lo hace mejor (ganancia {blurred} frente a su {gain}): solo se "
        "confirma dónde señala a grandes rasgos, no su detalle; léalo a una escala más gruesa"
    ),
    "noted": "{found} ({beat}), pero {note}",
    "pass": "{found}: {beat}, así que el mapa señala evidencia que el modelo usa",
    "random": "mejor que un orden aleatorio (ganancia {gain}; lo esperable al azar, 0)",
    "beat_blur": "mejor que un orden aleatorio (ganancia {gain}; lo esperable al azar, 0) y que una copia desenfocada "
    "de sí mismo ({blurred})",
    "beat_as_good": "mejor que un orden aleatorio (ganancia {gain}; lo esperable al azar, 0) y tan bueno como una "
    "copia desenfocada de sí mismo ({blurred}, con margen de {margin})",
    "beat_not": "mejor que un orden aleatorio (ganancia {gain}; lo esperable al azar, 0), pero no que una copia "
    "desenfocada de sí mismo ({blurred})",
    "both": (
        "el borrado hace caer la puntuación {deletion} veces más rápido que un orden aleatorio y la inserción la "
        "recupera {insertion} veces más rápido"
    ),
    "deletion": "el borrado hace caer la puntuación {deletion} veces más rápido que un orden aleatorio",
    "insertion": "la inserción recupera la puntuación {insertion} veces más rápido que un orden aleatorio",
    "neither": "la inserción y el borrado superan al orden aleatorio por {gain}",
}
SCORECARD = readback.Phrasebook(FAMILIES, EN, {"es": ES}, FIELDS, {"method": "method"})


def say(sentence: str, lang: str, family: str = "reason") -> str:
    """A scorecard sentence (its reason, or one of its notes with family="note") in ``lang``; as it is if unknown."""
    return SCORECARD.say(sentence, lang, family)
