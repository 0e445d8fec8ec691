"""The report's fixed templates, one set per language; each language's set has the same keys and placeholders.

Placeholders take facts already formatted for the language (numbers through language.number / percent), so the two
sets say the same facts. tests/explainers/trust/test_report_i18n.py renders every one in both languages.
"""

from __future__ import annotations

from typing import Any

from . import language

EN: dict[str, str] = {
    "h_prediction": "### Prediction",
    "h_where": "### Where the evidence is ({method})",
    "h_agree": "### Do the methods agree?",
    "h_trust": "### How far to trust this map",
    "h_believe": "### Which map to believe",
    "h_read": "### How to read the picture",
    "h_similar": "### Similar cases",
    "h_caveats": "### Caveats",
    "caveat": "A heatmap shows what the model used for its answer, not what causes the class in the world.",
    "clinical": (
        "**Not for clinical use.** This looks like a medical image or model. This demo is not a medical device; its "
        "answers and heatmaps must not inform diagnosis or treatment."
    ),
    "lowers": "This map explains what lowers {quantity}: positive areas push it down.",
    "rather": "{a} rather than {b}",
    "band_confident": "confident",
    "band_fairly": "fairly confident",
    "band_uncertain": "uncertain",
    "advice_confident": "a confident model can still be wrong on pictures unlike the ones it was trained on",
    "advice_fairly": "check the runner-up before relying on the answer",
    "advice_uncertain": "treat this answer with caution",
    "raw": "The model's raw output for **{name}** is {score} (no probabilities recorded).",
    "regression": (
        "The model estimates **{name}** at **{value}{unit}**. A regression model gives no probability: judge the value "
        "against what you expect, and against other pictures of the same thing."
    ),
    "present": "present",
    "absent": "absent",
    "multilabel": "The model's labels: **{decision}**. It reads **{name}** as {verdict} ({p}): {band}; {advice}.",
    "says": "The model says **{name}** ({p}): {band}; ",
    "runner_up": "check the runner-up, **{name}** ({p}), before relying on it.",
    "next": "{advice}. Next: {others}.",
    "advice_only": "{advice}.",
    "not_top": "\n\nThe map explains **{name}**{shown}, not the top answer.",
    "outputs": "outputs",
    "logits": "logits",
    "contrast": (
        "\n\nThe map explains why **{a}** rather than **{b}**: it attributes the difference of their {what} "
        "({a} minus {b}, {score} here), so it shows what tells them apart, not what either has alone."
    ),
    "where_none": "The map shows nothing that supports the target: every area counts against it or not at all.",
    "area_half": "half of it lies in about {area} of the image",
    "where_most": "Most of the supporting evidence ({share}) is in the **{region}**; {area}.",
    "where_largest": "The largest share of the supporting evidence ({share}) is in the **{region}**; {area}.",
    "where_around": (
        "The supporting evidence is concentrated around the **{region}** but crosses into neighbouring regions (none "
        "holds more than {share} of it); {area}."
    ),
    "where_spread": (
        "The supporting evidence is spread out: no ninth of the picture holds more than {share} of it; {area}."
    ),
    "where_peak": " The single strongest spot is in the {region}.",
    "where_against": " Much of the map ({share}) counts against the target: look at the negative areas too.",
    "agrees": "agrees",
    "partly_agrees": "partly agrees",
    "disagrees": "disagrees",
    "agreement": "{other} {word} with {me} on where the evidence is (rank correlation {rho}).",
    "their_checks": "Their own checks: {badges}.",
    "disagree_advice": "When methods disagree, trust the one whose check passes, or none of them.",
    "badge_pass": "pass",
    "badge_warn": "warn",
    "badge_fail": "fail",
    "unchecked": "This map was not checked (no scorecard in the receipt).",
    "verdict_pass": "Pass",
    "verdict_warn": "Warning",
    "verdict_fail": "Fail",
    "verdict": "**{word}**: {reason}.",
    "curves": (
        " (Deletion AUC {deletion} vs {random_deletion} for random order; insertion AUC {insertion} vs "
        "{random_insertion}; removed pixels become the {baselines} reference.)"
    ),
    "randomisation": (
        " With the model's last stage re-initialised, the map's rank correlation with itself is {rho} (near 0 means "
        "it depends on what the model learned)."
    ),
    "also": " Also: {note}.",
    "coarse": (
        "{method} read a {grid} grid here: it cannot point finer than about 1/{cells} of the image. Check occlusion "
        "or integrated gradients before trusting where it points."
    ),
    "footer": (
        "<sub>Model `{model}`{revision} · weights sha256 `{weights}` · {method} ({options}) · image sha256 "
        "`{image}`{cases} · {created}</sub>"
    ),
    "footer_gallery": " · gallery sha256 `{gallery}`",
}

ES: dict[str, str] = {
    "h_prediction": "### Predicción",
    "h_where": "### Dónde está la evidencia ({method})",
    "h_agree": "### ¿Coinciden los métodos?",
    "h_trust": "### Hasta qué punto fiarse de este mapa",
    "h_believe": "### Qué mapa creer",
    "h_read": "### Cómo leer la imagen",
    "h_similar": "### Casos similares",
    "h_caveats": "### Advertencias",
    "caveat": (
        "Un mapa de calor muestra lo que el modelo usó para responder, no lo que causa la clase en el mundo real."
    ),
    "clinical": (
        "**No apto para uso clínico.** Parece una imagen o un modelo médico. Esta demo no es un producto sanitario; "
        "sus respuestas y mapas de calor no deben orientar ningún diagnóstico ni tratamiento."
    ),
    "lowers": "Este mapa explica lo que reduce {quantity}: las zonas positivas lo hacen bajar.",
    "rather": "{a} en vez de {b}",
    "band_confident": "seguro",
    "band_fairly": "bastante seguro",
    "band_uncertain": "inseguro",
    "advice_confident": "un modelo seguro puede equivocarse en fotos distintas de aquellas con las que se entrenó",
    "advice_fairly": "mire la segunda opción antes de fiarse de la respuesta",
    "advice_uncertain": "tome esta respuesta con cautela",
    "raw": "La salida bruta del modelo para **{name}** es {score} (no se registraron probabilidades).",
    "regression": (
        "El modelo estima **{name}** en **{value}{unit}**. Un modelo de regresión no da probabilidades: compare el "
        "valor con lo que espera y con otras fotos de lo mismo."
    ),
    "present": "presente",
    "absent": "ausente",
    "multilabel": "Etiquetas del modelo: **{decision}**. Considera **{name}** {verdict} ({p}): {band}; {advice}.",
    "says": "El modelo dice **{name}** ({p}): {band}; ",
    "runner_up": "mire la segunda opción, **{name}** ({p}), antes de fiarse.",
    "next": "{advice}. Siguientes: {others}.",
    "advice_only": "{advice}.",
    "not_top": "\n\nEl mapa explica **{name}**{shown}, no la respuesta principal.",
    "outputs": "salidas",
    "logits": "logits",
    "contrast": (
        "\n\nEl mapa explica por qué **{a}** y no **{b}**: atribuye la diferencia de sus {what} ({a} menos {b}, "
        "{score} aquí), así que muestra lo que los distingue, no lo que cada uno tiene por sí solo."
    ),
    "where_none": (
        "El mapa no muestra nada a favor del objetivo: todas las zonas cuentan en contra o no cuentan en absoluto."
    ),
    "area_half": "la mitad ocupa alrededor del {area} de la imagen",
    "where_most": "La mayor parte de la evidencia a favor ({share}) está en **{region}**; {area}.",
    "where_largest": "La mayor porción de la evidencia a favor ({share}) está en **{region}**; {area}.",
    "where_around": (
        "La evidencia a favor se concentra sobre todo en **{region}**, pero se extiende a las zonas vecinas (ninguna "
        "tiene más del {share}); {area}."
    ),
    "where_spread": ("La evidencia a favor está repartida: ningún noveno de la imagen tiene más del {share}; {area}."),
    "where_peak": " El punto más fuerte está en {region}.",
    "where_against": (
        " Buena parte del mapa ({share}) cuenta en contra del objetivo: mire también las zonas negativas."
    ),
    "agrees": "coincide",
    "partly_agrees": "coincide en parte",
    "disagrees": "no coincide",
    "agreement": "{other} {word} con {me} en dónde está la evidencia (correlación de rangos {rho}).",
    "their_checks": "Sus propias comprobaciones: {badges}.",
    "disagree_advice": "Cuando los métodos no coinciden, fíese del que supera su comprobación, o de ninguno.",
    "badge_pass": "aprobado",
    "badge_warn": "aviso",
    "badge_fail": "suspenso",
    "unchecked": "Este mapa no se comprobó (el recibo no tiene ficha de evaluación).",
    "verdict_pass": "Aprobado",
    "verdict_warn": "Aviso",
    "verdict_fail": "Suspenso",
    "verdict": "**{word}**: {reason}.",
    "curves": (
        " (AUC de borrado {deletion} frente a {random_deletion} en orden aleatorio; AUC de inserción {insertion} "
        "frente a {random_insertion}; los píxeles quitados pasan a la referencia {baselines}.)"
    ),
    "randomisation": (
        " Con la última etapa del modelo reinicializada, la correlación de rangos del mapa consigo mismo es {rho} "
        "(cerca de 0 significa que depende de lo que el modelo aprendió)."
    ),
    "also": " Además: {note}.",
    "coarse": (
        "{method} leyó aquí una rejilla de {grid}: no puede señalar nada más fino que 1/{cells} de la imagen. Mire "
        "la oclusión o los gradientes integrados antes de fiarse de dónde señala."
    ),
    "footer": (
        "<sub>Modelo `{model}`{revision} · pesos sha256 `{weights}` · {method} ({options}) · imagen sha256 "
        "`{image}`{cases} · {created}</sub>"
    ),
    "footer_gallery": " · galería sha256 `{gallery}`",
}

TEMPLATES: dict[str, dict[str, str]] = {"en": EN, "es": ES}
# Method labels (registry.label) that read differently in a language; the others (Grad-CAM, HiResCAM...) are names.
METHODS: dict[str, dict[str, str]] = {"es": {"Occlusion": "Oclusión", "Integrated gradients": "Gradientes integrados"}}
# The reference images removed pixels become (methods/baselines.BASELINES), as the verdict's "the {x} reference".
BASELINES: dict[str, dict[str, str]] = {
    "es": {"zero": "cero", "mean": "media", "blur": "desenfocada", "black": "negra", "noise": "de ruido"}
}


def say(lang: str, key: str, **facts: Any) -> str:
    """The template ``key`` in ``lang`` (English for an unknown language) filled with ``facts``."""
    return TEMPLATES.get(lang, EN)[key].format(**facts)


def method(label: str, lang: str) -> str:
    """A method's label (registry.label) as ``lang`` writes it."""
    return METHODS.get(lang, {}).get(label, label)


def baseline(name: str, lang: str) -> str:
    """A reference image's name (methods/baselines.BASELINES) as ``lang`` writes it."""
    return BASELINES.get(lang, {}).get(name, name)


def pct(p: float, lang: str) -> str:
    """A probability or share as a whole percentage; one significant digit below 1% so it never reads as 0."""
    value = 100 * float(p)
    spec = ".0f" if value >= 1 or value == 0 else ".1g"
    return language.percent(language.number(value, spec, lang), lang)


def num(value: float, spec: str, lang: str) -> str:
    """``format(value, spec)`` in the language's style (decimal comma in Spanish)."""
    return language.number(value, spec, lang)
