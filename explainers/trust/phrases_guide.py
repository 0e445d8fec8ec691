"""The templates of the report's two guide sections, one set per language with the same keys and placeholders:
which map to believe (ranking.py, also Compare's ranked table) and how to read the picture (reading.py).

Kept apart from phrases.py (the rest of the report) only for length; the conventions are the same: placeholders take
facts already formatted for the language, and tests/explainers/trust/test_report_i18n.py renders every one in both.
"""

from __future__ import annotations

from typing import Any

EN: dict[str, str] = {
    # ranking.py: which map to believe
    "trust_pass": (
        "**Trust {label}** first: its check passes and it does best against the controls here ({facts}): putting "
        "back the cells it ranks highest restores the model's score faster than a random order of cells and than a "
        "blurred copy of the map.{runner} The others follow in rank order."
    ),
    "trust_warn": (
        "**No map passes every check for this image.** The least doubtful is {label} ({facts}); read it with its "
        "warning in mind.{runner}"
    ),
    "trust_fail": (
        "**Every map fails its checks for this image: trust none of them.** Each one's reason is in its card."
    ),
    "runner": " Next: {label} ({facts}).",
    "fact_gain": "gain {gain} over random order, whose expectation is 0",
    "fact_blurred": "its blurred copy {gain}",
    "table_title": "**Ranking** (which map to believe first: the scorecard against random order and a blurred copy)",
    "table_header": "| # | Method | Verdict | Gain vs random order (0) / Blurred copy |",
    # reading.py: how to read the picture
    "unit_logit": "logit",
    "unit_output": "output",
    "raise": "raise",
    "lower": "lower",
    "colours": (
        "**Colours** are in the colour bar's unit (the {unit} of {name}): red areas {raises} it, blue areas {lowers} "
        "it, and the stronger the colour the larger the effect. Colours saturate at the bar's ends, a high percentile "
        "of the map; a few pixels can go beyond, so the map's max (written above the bar) may be larger than the end "
        "(marked >=). A black outline surrounds where the map reaches half the bar's end."
    ),
    "grey": (
        "The photo is shown **in grey** under the map, so the colours stay visible on a red or orange subject. {border}"
    ),
    "whole": "The model saw the whole photo.",
    "border": (
        "The **darker grey border** lies outside the model's crop: the model never saw it, so the map says nothing "
        "there."
    ),
    "box": (
        "The **yellow box** is occlusion's critical window: covering that window with the reference drops the score "
        "the most."
    ),
    "panels": "Integrated gradients shows **two panels**: how much each area counts, and its sign.",
    "badge": (
        "**The badge** tests the map: the picture is cut into cells and the cells {method} ranks highest are put back "
        "first into a copy where every cell is replaced by the {reference} reference (*insertion*), or taken away "
        'first from the photo (*deletion*). "Insertion restores the score {speedup}x faster than random order" means '
        "the model's score comes back {speedup} times as fast as when the same cells are put back in a random order. "
        "The *gain* is insertion's area minus deletion's: 0 for random order, higher is better; a blurred copy of the "
        "map is the second control (a map that loses to it is right only about roughly where). The randomisation "
        "check reruns the method on a model whose last stage is re-initialised: a map that barely changes shows the "
        "photo, not the model."
    ),
}

ES: dict[str, str] = {
    "trust_pass": (
        "**Fíese primero de {label}**: supera su comprobación y es el que mejor sale frente a los controles aquí "
        "({facts}): reponer primero las celdas que sitúa más arriba recupera la puntuación del modelo más rápido que "
        "un orden aleatorio de celdas y que una copia desenfocada del mapa.{runner} Los demás siguen por orden de "
        "clasificación."
    ),
    "trust_warn": (
        "**Ningún mapa supera todas las comprobaciones en esta imagen.** El menos dudoso es {label} ({facts}); léalo "
        "teniendo en cuenta su aviso.{runner}"
    ),
    "trust_fail": (
        "**Todos los mapas suspenden sus comprobaciones en esta imagen: no se fíe de ninguno.** El motivo de cada uno "
        "está en su ficha."
    ),
    "runner": " Después: {label} ({facts}).",
    "fact_gain": "ganancia {gain} sobre un orden aleatorio, cuyo valor esperado es 0",
    "fact_blurred": "su copia desenfocada {gain}",
    "table_title": (
        "**Clasificación** (qué mapa creer primero: la ficha de evaluación frente a un orden aleatorio y a una copia "
        "desenfocada)"
    ),
    "table_header": "| # | Método | Veredicto | Ganancia frente a orden aleatorio (0) / Copia desenfocada |",
    "unit_logit": "el logit",
    "unit_output": "la salida",
    "raise": "aumentan",
    "lower": "reducen",
    "colours": (
        "Los **colores** están en la unidad de la barra de color ({unit} de {name}): las zonas rojas {raises} ese "
        "valor y las azules lo {lowers}, y cuanto más intenso es el color, mayor es el efecto. Los colores se saturan "
        "en los extremos de la barra, un percentil alto del mapa; unos pocos píxeles pueden pasar de ahí, así que el "
        "máximo del mapa (escrito encima de la barra) puede superar el extremo (marcado con >=). Un contorno negro "
        "rodea las zonas donde el mapa llega a la mitad del extremo de la barra."
    ),
    "grey": (
        "La foto se muestra **en gris** bajo el mapa, para que los colores se sigan viendo sobre un sujeto rojo o "
        "naranja. {border}"
    ),
    "whole": "El modelo vio la foto entera.",
    "border": (
        "El **borde gris más oscuro** queda fuera del recorte del modelo: el modelo nunca lo vio, así que el mapa no "
        "dice nada ahí."
    ),
    "box": (
        "El **recuadro amarillo** es la ventana crítica de la oclusión: tapar esa ventana con la referencia es lo que "
        "más hace caer la puntuación."
    ),
    "panels": "Los gradientes integrados muestran **dos paneles**: cuánto cuenta cada zona y con qué signo.",
    "badge": (
        "**La insignia** pone a prueba el mapa: la imagen se divide en celdas, y las celdas que {method} sitúa más "
        "arriba se reponen primero en una copia en la que cada celda se sustituye por la referencia {reference} "
        '(*inserción*), o se quitan primero de la foto (*borrado*). "La inserción recupera la puntuación {speedup} '
        'veces más rápido que un orden aleatorio" significa que la puntuación del modelo vuelve {speedup} veces más '
        "rápido que cuando las mismas celdas se reponen en orden aleatorio. La *ganancia* es el área de la inserción "
        "menos la del borrado: 0 para un orden aleatorio, y cuanto más alta, mejor; una copia desenfocada del mapa es "
        "el segundo control (un mapa que pierde frente a ella solo acierta a grandes rasgos en dónde). La comprobación "
        "de aleatorización vuelve a ejecutar el método en un modelo con la última etapa reinicializada: un mapa que "
        "apenas cambia muestra la foto, no el modelo."
    ),
}

TEMPLATES: dict[str, dict[str, str]] = {"en": EN, "es": ES}


def say(lang: str, key: str, **facts: Any) -> str:
    """The template ``key`` in ``lang`` (English for an unknown language) filled with ``facts``."""
    return TEMPLATES.get(lang, EN)[key].format(**facts)
