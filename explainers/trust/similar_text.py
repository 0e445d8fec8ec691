"""The report's similar-cases sentence (similar/sentence.py) in Spanish, read back from the English (see readback).

EN is what similar/sentence.py writes, word for word; tests run report_sentence's own sentences through it.
"""

from __future__ import annotations

from . import readback

FAMILIES = {
    "sentence": ("none_agree", "all_agree", "some_agree", "labels_range", "labels", "values"),
    "among": ("among_one", "among_many"),
    "parts": ("more_parts", "part"),
    "part": ("part",),
}
TEXT = r".+?"
FIELDS = {
    "among": r"Of the .+?\)",
    "parts": r".+",
    "part": r".+?",
    "count": r"\d[\d,]*",
    "unit": r"(?: [^\s;()]+)?",
    **dict.fromkeys(("predicted", "top", "unlike", "labels", "low_name", "high_name", "name"), TEXT),
}
KINDS = {
    "count": "count",
    **dict.fromkeys(("predicted", "top", "unlike", "labels", "low_name", "high_name", "name", "unit"), "text"),
}

EN = {
    "among_one": "Of the {k} reference image most similar to this one (among {count})",
    "among_many": "Of the {k} reference images most similar to this one (among {count})",
    "none_agree": (
        "{among}, none is labelled {predicted}, the prediction: most are {top} ({votes}), and the nearest is {unlike} "
        "(similarity {similarity})."
    ),
    "all_agree": (
        "{among}, {agreeing} ({share}%) are labelled {predicted}, like the prediction; every reference in the gallery "
        "is labelled {predicted}."
    ),
    "some_agree": (
        "{among}, {agreeing} ({share}%) are labelled {predicted}, like the prediction. The closest reference labelled "
        "otherwise is {unlike} (similarity {similarity}, against {nearest} for the nearest)."
    ),
    "labels": "{among}, {agreeing} ({share}%) carry exactly the predicted labels ({labels}).",
    "labels_range": (
        "{among}, {agreeing} ({share}%) carry exactly the predicted labels ({labels}); per label, the neighbours agree "
        "with the prediction from {low}% ({low_name}) to {high}% ({high_name})."
    ),
    "values": "{among}, {parts}.",
    "more_parts": "{part}; {parts}",
    "part": "{name} runs from {low} to {high}{unit} (median {median}), against a predicted {estimate}{unit}",
}
ES = {
    "among_one": "De la imagen de referencia más parecida a esta (entre {count})",
    "among_many": "De las {k} imágenes de referencia más parecidas a esta (entre {count})",
    "none_agree": (
        "{among}, ninguna está etiquetada como {predicted}, la predicción: la mayoría son {top} ({votes}) y la más "
        "cercana es {unlike} (similitud {similarity})."
    ),
    "all_agree": (
        "{among}, {agreeing} ({share}\u00a0%) están etiquetadas como {predicted}, igual que la predicción; todas las "
        "referencias de la galería están etiquetadas como {predicted}."
    ),
    "some_agree": (
        "{among}, {agreeing} ({share}\u00a0%) están etiquetadas como {predicted}, igual que la predicción. La "
        "referencia más cercana con otra etiqueta es {unlike} (similitud {similarity}, frente a {nearest} de la más "
        "cercana)."
    ),
    "labels": "{among}, {agreeing} ({share}\u00a0%) llevan exactamente las etiquetas predichas ({labels}).",
    "labels_range": (
        "{among}, {agreeing} ({share}\u00a0%) llevan exactamente las etiquetas predichas ({labels}); etiqueta por "
        "etiqueta, los vecinos coinciden con la predicción entre el {low}\u00a0% ({low_name}) y el {high}\u00a0% "
        "({high_name})."
    ),
    "values": "{among}, {parts}.",
    "more_parts": "{part}; {parts}",
    "part": "{name} va de {low} a {high}{unit} (mediana {median}), frente a una predicción de {estimate}{unit}",
}
WORDS = {"es": {"no label": "ninguna etiqueta"}}  # what sentence.py writes in place of a list of labels
SIMILAR = readback.Phrasebook(FAMILIES, EN, {"es": ES}, FIELDS, KINDS, WORDS)


def say(sentence: str, lang: str) -> str:
    """The similar-cases sentence (similar.sentence.report_sentence) in ``lang``; as it is if unknown."""
    return SIMILAR.say(sentence, lang, "sentence")
