"""Report and headline in English and Spanish: every template renders in both from the same receipts, with the same
facts and numbers in each language's style; an unknown language is English."""

from __future__ import annotations

import re
import string
from types import SimpleNamespace

import numpy as np
import pytest

from explainers import registry
from explainers.counterfactual.headline import WORDS, headline
from explainers.methods.baselines import BASELINES
from explainers.similar.sentence import report_sentence
from explainers.trust import language, phrases, phrases_guide, ranking, reasons, scorecard, similar_text
from explainers.trust.evidence import REGION_NAMES, REGIONS
from explainers.trust.report import report
from explainers.types import Counterfactual, Prediction

CARD = {
    "method": "occlusion",
    "badge": "pass",
    "reason": "deletion drops the score 3.1x faster than random order",
    "curves": {"deletion_auc": 0.125, "random_deletion_auc": 0.5, "insertion_auc": 0.8, "random_insertion_auc": 0.4},
    "randomisation": 0.07,
    "agreement": {"gradcam": 0.05},
    "baselines": "blur",
    "notes": ["a note"],
}


def _ev(main: str = "centre-left", share: float = 0.6, area: float = 0.12, peak: str = "centre", pos: float = 0.9):
    return {"main": main, "main_share": share, "area_half": area, "peak": peak, "positive_share": pos}


def _receipt(**changes) -> dict:
    base = {
        "model": {"id": "acme/flowers", "revision": "a" * 40, "weights_sha256": "b" * 64},
        "image": {"sha256": "c" * 64, "grayscale": False},
        "method": "occlusion",
        "options": {"window": 16, "stride": 8},
        "target": {"name": "rose", "index": 0, "kind": "multiclass", "direction": "raises"},
        "score": 2.345,
        "prediction": {
            "task": "multiclass",
            "top": [{"name": "rose", "probability": 0.955}, {"name": "tulip", "probability": 0.045}],
        },
        "evidence": _ev(),
        "scorecard": None,
        "notes": [],
        "extras": {},
        "created": "2026-01-01T00:00:00+00:00",
    }
    return {**base, **changes}


TOP3 = [
    {"name": "rose", "probability": 0.7},
    {"name": "tulip", "probability": 0.25},
    {"name": "daisy", "probability": 0.05},
]
# Receipts that between them reach every template (test_every_template_is_reached checks it).
RECEIPTS = {
    "confident": _receipt(),
    "fairly": _receipt(prediction={"task": "multiclass", "top": TOP3}),
    "uncertain_alone": _receipt(prediction={"task": "multiclass", "top": [{"name": "rose", "probability": 0.4}]}),
    "other_target": _receipt(
        target={"name": "tulip", "index": 1, "kind": "multiclass", "direction": "lowers"},
        prediction={"task": "multiclass", "top": TOP3},
    ),
    "contrast": _receipt(target={"name": "rose", "contrast": "tulip", "kind": "multiclass", "direction": "lowers"}),
    "contrast_regression": _receipt(
        target={"name": "kcal", "contrast": "protein", "kind": "regression", "direction": "raises"},
        prediction=None,
    ),
    "raw": _receipt(prediction=None),
    "regression": _receipt(
        target={"name": "kcal", "index": 0, "kind": "regression", "direction": "raises"},
        prediction={"task": "regression", "values": [{"name": "kcal", "value": 1234.5, "unit": "kcal"}]},
    ),
    "multilabel": _receipt(
        target={"name": "cat", "index": 0, "kind": "multilabel", "direction": "raises"},
        prediction={
            "task": "multilabel",
            "decision": "cat, dog",
            "positive": ["cat"],
            "labels": [{"name": "cat", "probability": 0.8125}, {"name": "dog", "probability": 0.6}],
        },
    ),
    "multilabel_absent": _receipt(
        target={"name": "dog", "index": 1, "kind": "multilabel", "direction": "raises"},
        prediction={
            "task": "multilabel",
            "decision": "none",
            "positive": [],
            "labels": [{"name": "dog", "probability": 0.004}],
        },
    ),
    "none": _receipt(evidence=_ev(pos=0.0)),
    "largest": _receipt(evidence=_ev(share=0.4, pos=0.5)),
    "around": _receipt(evidence=_ev(share=0.2, area=0.1)),
    "spread": _receipt(evidence=_ev(share=0.15, area=0.45)),
    "scored": _receipt(scorecard=CARD),
    "warn": _receipt(scorecard={**CARD, "badge": "warn", "curves": None, "agreement": {"gradcam": 0.3}}),
    "fail": _receipt(scorecard={**CARD, "badge": "fail", "curves": None, "agreement": {"gradcam": 0.9}}),
    "coarse": _receipt(method="gradcam", options={}, extras={"coarse": True, "grid": [3, 3]}),
    "medical": _receipt(model={"id": "acme/chest-xray", "revision": None, "weights_sha256": "b" * 64}),
    "gallery": _receipt(
        similar={"k": 1, "gallery": {"count": 2, "sha256": "e" * 64}, "task": "regression", "values": []}
    ),
}
OTHERS = {
    "scored": [
        _receipt(method=method, scorecard={**CARD, "badge": badge, "agreement": {}})
        for method, badge in (("gradcam", "warn"), ("integrated_gradients", "pass"), ("occlusion", "fail"))
    ]
}
GAINED = {**CARD, "curves": {**CARD["curves"], "gain": 0.425, "blurred_gain": 0.25}}
BORDER = {"sha256": "c" * 64, "grayscale": False, "width": 100, "height": 80, "crop_box": [10.0, 0.0, 90.0, 80.0]}
WHOLE = {**BORDER, "crop_box": [0.0, 0.0, 100.0, 80.0]}


def _ranked(name: str, receipt: dict, *others: dict) -> None:
    """Add a Compare-style case: the receipts with their rank blocks (which map to believe)."""
    receipts = [receipt, *others]
    for r, block in zip(receipts, ranking.rank(receipts), strict=True):
        r["rank"] = block
    RECEIPTS[name], OTHERS[name] = receipt, list(others)


# Between them, every template of the guide sections (phrases_guide): each verdict of the ranking, a runner-up with
# and without a blurred copy, the crop's grey border or the whole photo, occlusion's box, IG's two panels.
_ranked(
    "believe",
    _receipt(scorecard=GAINED, image=BORDER, extras={"critical_box": [0, 0, 4, 4]}),
    _receipt(method="gradcam", options={"variant": "hirescam"}, scorecard={**GAINED, "badge": "warn"}),
)
_ranked(
    "believe_warn",
    _receipt(method="integrated_gradients", options={}, scorecard={**GAINED, "badge": "warn"}, image=WHOLE),
    _receipt(method="gradcam", options={}, scorecard={**CARD, "badge": "fail", "curves": None}),
)
_ranked(
    "believe_none",
    _receipt(
        target={"name": "kcal", "index": 0, "kind": "regression", "direction": "raises"},
        scorecard={**GAINED, "badge": "fail"},
    ),
    _receipt(method="gradcam", options={}, scorecard={**GAINED, "badge": "fail"}),
)
LANGUAGES = ("en", "es")


def _render(name: str, lang: str | None) -> str:
    return report(RECEIPTS[name], others=OTHERS.get(name, ()), language=lang)


def _fields(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def test_both_template_sets_have_the_same_keys_and_the_same_placeholders():
    assert set(phrases.ES) == set(phrases.EN), set(phrases.ES) ^ set(phrases.EN)
    differ = {k: (_fields(phrases.EN[k]), _fields(phrases.ES[k])) for k in phrases.EN}
    assert not {k: v for k, v in differ.items() if v[0] != v[1]}
    assert set(REGION_NAMES["es"]) == {r for row in REGIONS for r in row}
    assert set(WORDS["es"]) == set(WORDS["en"])
    assert set(phrases.METHODS["es"]) <= {registry.label(name) for name in registry.METHODS}
    assert set(phrases.BASELINES["es"]) == set(BASELINES)
    assert set(phrases_guide.ES) == set(phrases_guide.EN), set(phrases_guide.ES) ^ set(phrases_guide.EN)
    differ = {k: (_fields(phrases_guide.EN[k]), _fields(phrases_guide.ES[k])) for k in phrases_guide.EN}
    assert not {k: v for k, v in differ.items() if v[0] != v[1]}


def test_every_template_is_reached_by_the_receipts_in_both_languages(monkeypatch):
    used: dict[str, set[str]] = {lang: set() for lang in LANGUAGES}
    say = phrases.say

    def spy(lang: str, key: str, **facts) -> str:
        used[lang].add(key)
        return say(lang, key, **facts)

    guided: dict[str, set[str]] = {lang: set() for lang in LANGUAGES}
    say_guide = phrases_guide.say

    def spy_guide(lang: str, key: str, **facts) -> str:
        guided[lang].add(key)
        return say_guide(lang, key, **facts)

    monkeypatch.setattr("explainers.trust.report.say", spy)
    monkeypatch.setattr("explainers.trust.reading.say", spy_guide)
    monkeypatch.setattr("explainers.trust.ranking.say", spy_guide)
    for name in RECEIPTS:
        for lang in LANGUAGES:
            _render(name, lang)  # a missing key or placeholder raises here
            ranking.title(language=lang) + ranking.table([RECEIPTS[name], *OTHERS.get(name, ())], language=lang)
    assert used["en"] == used["es"] == set(phrases.EN), set(phrases.EN) - used["en"]
    assert guided["en"] == guided["es"] == set(phrases_guide.EN), set(phrases_guide.EN) - guided["en"]


@pytest.mark.parametrize("name", sorted(RECEIPTS))
def test_spanish_says_the_same_numbers_with_a_decimal_comma(name):
    english, spanish = _render(name, "en"), _render(name, "es")
    assert spanish != english
    numbers = re.compile(r"(?<![\w`])\d+(?:[.,]\d+)?(?=x?(?![\w`]))")  # "2.2x" (a speed-up) is the number 2.2
    in_english = [n for n in numbers.findall(english.split("<sub>")[0]) if n not in ("3.1",)]  # 3.1x: free text
    spanish_numbers = numbers.findall(spanish.split("<sub>")[0])
    for n in in_english:
        assert n.replace(".", ",") in spanish_numbers or n in spanish_numbers, (n, spanish)
    assert not re.search(r"\d\.\d", spanish.split("<sub>")[0].replace("3.1x", "")), spanish
    assert spanish.split("<sub>")[0].count("%") == english.split("<sub>")[0].count("%")


def test_spanish_formats_numbers_and_percentages_its_way():
    text = _render("scored", "es")
    assert "AUC de borrado 0,12 frente a 0,50" in text and "pasan a la referencia desenfocada" in text
    assert "El modelo dice **rose** (96\u00a0%): seguro;" in text
    assert "en **1234 kcal**" in _render("regression", "es")
    assert "está en **la parte central izquierda**" in _render("confident", "es")
    assert "Grad-CAM no coincide con Oclusión" in text and "### Dónde está la evidencia (Oclusión)" in text


def test_spanish_says_which_map_to_believe_and_how_to_read_the_picture_with_the_same_numbers():
    text = _render("believe", "es")
    assert "### Qué mapa creer\n**Fíese primero de Oclusión**: supera su comprobación" in text
    assert (
        "(aprobado; ganancia 0,42 sobre un orden aleatorio, cuyo valor esperado es 0; su copia desenfocada 0,25)"
        in text
    )
    assert "Después: HiResCAM (aviso; ganancia 0,42" in text
    assert "El **borde gris más oscuro**" in text and "El **recuadro amarillo**" in text
    assert "(el logit de rose)" in text and "referencia desenfocada (*inserción*)" in text
    assert '"La inserción recupera la puntuación 2,2 veces más rápido' in text and "vuelve 2,2 veces" in text
    warn, none = _render("believe_warn", "es"), _render("believe_none", "es")
    assert "El menos dudoso es Gradientes integrados (aviso;" in warn and "Después: Grad-CAM (suspenso)." in warn
    assert "**dos paneles**" in warn and "vio la foto entera" in warn
    assert "no se fíe de ninguno" in none and "(la salida de kcal)" in none
    english = _render("believe", "en")
    assert "(pass; gain 0.42 over random order, whose expectation is 0; its blurred copy 0.25)" in english
    assert "2.2x faster than random order" in english and "2.2 times as fast" in english


def test_the_ranked_table_reads_in_spanish_and_follows_the_request_language():
    receipts = [RECEIPTS["believe"], *OTHERS["believe"]]
    rows = ranking.table(receipts, language="es").splitlines()
    assert rows[0] == "| # | Método | Veredicto | Ganancia frente a orden aleatorio (0) / Copia desenfocada |"
    assert rows[2:] == ["| 1 | Oclusión | aprobado | 0,42 / 0,25 |", "| 2 | HiResCAM | aviso | 0,42 / 0,25 |"]
    assert ranking.table(receipts).splitlines()[2] == "| 1 | Occlusion | pass | 0.42 / 0.25 |"
    assert ranking.title(language="es").startswith("**Clasificación** (qué mapa creer primero")
    with language.using("es-ES"):
        assert ranking.table(receipts) == ranking.table(receipts, language="es")
        assert ranking.trust_sentence(receipts) == ranking.trust_sentence(receipts, language="es")
        assert ranking.title() == ranking.title(language="es")
        assert ranking.table(receipts, language="en") == ranking.table(receipts, language="fr")


@pytest.mark.parametrize("unknown", ["fr", "xx", "", "zz-ZZ", "español", None])
def test_an_unknown_language_falls_back_to_english(unknown):
    assert _render("scored", unknown) == _render("scored", "en")
    assert _render("believe", unknown) == _render("believe", "en")


def test_the_language_set_for_a_request_is_used_when_none_is_given():
    with language.using("es-MX,es;q=0.9"):
        assert _render("scored", None) == _render("scored", "es")
        assert _render("scored", "en") == _render("scored", "en")  # an explicit language wins
    assert _render("scored", None) == _render("scored", "en")


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("es", "es"),
        ("es-ES", "es"),
        ("ES_mx", "es"),
        ("es-419,en;q=0.5", "es"),
        ("en-GB", "en"),
        ("fr-FR,es;q=0.9", "en"),
    ],
)
def test_language_tags_and_accept_language_headers_are_normalised(tag, expected):
    assert language.normalise(tag) == expected


def _prediction(names: list[str], scores: list[float]) -> Prediction:
    top = tuple(sorted(zip(names, scores, strict=True), key=lambda t: -t[1]))
    values = np.asarray(scores, dtype=np.float32)
    return Prediction("multiclass", values, values, tuple(names), top[0][0], top)


def test_the_headline_reads_in_spanish_with_a_decimal_comma_and_falls_back_to_english():
    before = _prediction(["espresso", "cup"], [0.955, 0.045])
    after = _prediction(["espresso", "cup"], [0.585, 0.415])
    empty = np.zeros((1, 1, 3), np.float32)
    cf = Counterfactual("cup", False, empty, empty.astype(np.uint8), empty, before, after, {"goal": {"kind": "class"}})
    assert headline(cf, language="en") == "espresso 96% -> espresso 58% (goal not reached: cup)"
    assert headline(cf, language="es") == "espresso 96\u00a0% -> espresso 58\u00a0% (objetivo no alcanzado: cup)"
    assert headline(cf, language="de") == headline(cf)


def _curves(gain: float, blurred: float | None = None, deletion: float | None = 3.1, insertion: float | None = 2.2):
    return SimpleNamespace(gain=gain, blurred_gain=blurred, deletion_speedup=deletion, insertion_speedup=insertion)


PLAIN = SimpleNamespace(extras={}, method="occlusion", options={})
COARSE = SimpleNamespace(extras={"coarse": True, "grid": [7, 7]}, method="integrated_gradients", options={})
# (explanation, curves, randomisation correlation): between them every branch of scorecard.verdict.
VERDICTS = [
    (PLAIN, _curves(0.5), 0.9),
    (PLAIN, _curves(0.5), 0.6),
    (PLAIN, None, None),
    (PLAIN, _curves(-0.5), None),
    (PLAIN, _curves(0.1), None),
    (COARSE, _curves(0.5, 0.4), None),
    (COARSE, _curves(0.5, 0.9), None),
    (PLAIN, _curves(0.3, 0.5), None),
    (PLAIN, _curves(0.5, 0.4), 0.6),
    (PLAIN, _curves(0.5, 0.4), None),
    (PLAIN, _curves(0.5, 0.53), None),
    (PLAIN, _curves(0.5, None, None, 2.0), None),
    (PLAIN, _curves(0.5, None, 2.0, None), None),
    (PLAIN, _curves(0.5, None, 0.5, 0.5), 0.1),
]


def test_every_scorecard_verdict_is_said_in_spanish_with_the_same_numbers():
    """scorecard.verdict's own sentences, read back by reasons.EN: a rewording there fails here, not silently."""
    spanish_texts = []
    for explanation, curves, rho in VERDICTS:
        _, reason, notes = scorecard.verdict(explanation, curves, rho)
        for text, family in ((reason, "reason"), *((note, "note") for note in notes)):
            spanish = reasons.say(text, "es", family)
            assert spanish != text, f"reasons.EN does not match scorecard's sentence: {text!r}"
            assert [n.replace(".", ",") for n in re.findall(r"\d+\.\d+", text)] == re.findall(r"\d+,\d+", spanish)
            assert not re.search(r"\b(the map|random order|the model)\b", spanish), spanish
            assert reasons.say(text, "en", family) == reasons.say(text, "fr", family) == text
            spanish_texts.append(spanish)
    for key, template in reasons.ES.items():
        fixed = max(re.split(r"\{\w+\}", template), key=len)
        assert any(fixed in text for text in spanish_texts), f"no verdict reached reasons template {key!r}"


def test_a_sentence_the_templates_do_not_know_stays_in_english():
    assert reasons.say("a brand new kind of verdict (gain 0.50)", "es") == "a brand new kind of verdict (gain 0.50)"
    assert "**Aprobado**: el borrado hace caer la puntuación 3,1 veces" in report(
        _receipt(scorecard={**CARD, "reason": scorecard.verdict(PLAIN, _curves(0.5, 0.4), None)[1]}), language="es"
    )


GALLERY = {"count": 12345, "sha256": "e" * 64}
UNLIKE = {"label": "T-shirt/top", "similarity": 0.91}
# Summaries (SimilarCases.summary) that between them reach every branch of similar.sentence.report_sentence.
SIMILAR = [
    {
        "k": 5,
        "gallery": GALLERY,
        "task": "multiclass",
        "agreement": 0.8,
        "prediction": "Shirt",
        "nearest_unlike": UNLIKE,
        "neighbours": [{"similarity": 0.95}],
    },
    {
        "k": 1,
        "gallery": {**GALLERY, "count": 3},
        "task": "multiclass",
        "agreement": 1.0,
        "prediction": "Shirt",
        "nearest_unlike": None,
        "neighbours": [{"similarity": 0.95}],
    },
    {
        "k": 5,
        "gallery": GALLERY,
        "task": "multiclass",
        "agreement": 0.0,
        "prediction": "Shirt",
        "nearest_unlike": UNLIKE,
        "neighbours": [{"similarity": 0.91}],
        "votes": [{"label": "Coat", "count": 4}],
    },
    {
        "k": 5,
        "gallery": GALLERY,
        "task": "multilabel",
        "agreement": 0.4,
        "labels": [
            {"name": "cat", "predicted": True, "agreement": 0.6},
            {"name": "dog", "predicted": False, "agreement": 0.9},
        ],
    },
    {"k": 5, "gallery": GALLERY, "task": "multilabel", "agreement": 0.4, "labels": []},
    {
        "k": 5,
        "gallery": GALLERY,
        "task": "regression",
        "values": [
            {"name": "calories", "unit": "kcal", "low": 250.0, "high": 400.0, "median": 312.0, "predicted": 330.5},
            {"name": "ratio", "unit": "", "low": 0.25, "high": 0.5, "median": 0.333, "predicted": 0.4},
        ],
    },
]


def test_every_similar_cases_sentence_is_said_in_spanish_with_the_same_numbers():
    """similar.sentence's own sentences, read back by similar_text.EN: a rewording there fails here, not silently."""
    spanish_texts = []
    for summary in SIMILAR:
        english = report_sentence(summary)
        spanish = similar_text.say(english, "es")
        assert spanish != english, f"similar_text.EN does not match the sentence: {english!r}"
        assert [n.replace(".", ",") for n in re.findall(r"\d+\.\d+", english)] == re.findall(r"\d+,\d+", spanish)
        assert "12\u00a0345" in spanish or "(entre 3)" in spanish
        assert not re.search(r"\b(reference|labelled|prediction|runs from|no label)\b", spanish), spanish
        assert similar_text.say(english, "en") == english
        spanish_texts.append(spanish)
    for key, template in similar_text.ES.items():
        fixed = max(re.split(r"\{\w+\}", template), key=len)
        assert any(fixed in text for text in spanish_texts), f"no summary reached similar_text template {key!r}"
    assert "### Casos similares\nDe las 5 imágenes" in report(_receipt(similar=SIMILAR[0]), language="es")


def test_a_regression_headline_in_spanish_has_the_same_values_with_spanish_separators():
    names = ["calories", "protein"]
    before = Prediction("regression", np.zeros(2), np.array([312.0, 12.0]), tuple(names), "", ())
    after = Prediction("regression", np.zeros(2), np.array([1350.4, 13.2]), tuple(names), "", ())
    held = [{"name": "protein", "value": 12.0, "tolerance": 5.0, "unit": "g"}]
    goal = {"kind": "band", "name": "calories", "value": 1350.0, "tolerance": 10.0, "unit": "kcal", "held": held}
    empty = np.zeros((1, 1, 3), np.float32)
    cf = Counterfactual("calories = 1350", True, empty, empty.astype(np.uint8), empty, before, after, {"goal": goal})
    assert headline(cf, language="en") == "calories 312 kcal -> 1,350 kcal (protein held at 12 g ± 5, now 13.2 g)"
    assert headline(cf, language="es") == (
        "calories 312 kcal -> 1\u00a0350 kcal (protein fijado en 12 g ± 5, ahora 13,2 g)"
    )
