"""The page in Spanish: every visible English string has a Spanish entry, the localised page keeps the API as it was,
and handlers speak the request's language (cookie, then Accept-Language, English otherwise)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio.i18n import I18nData

import app
from explainers.trust import language, ranking
from ui import common, compare, corrections, i18n


@pytest.fixture(scope="module")
def plain_demo() -> gr.Blocks:
    """The page as the tab modules build it, before localise (app.build_demo without its i18n hook), with the
    owner's status too (app.py --owner), so that every string some visitor can see is checked."""
    real = i18n.localise
    i18n.localise = lambda demo: demo  # type: ignore[assignment]
    corrections.set_owner(True)
    try:
        return app.build_demo()
    finally:
        i18n.localise = real  # type: ignore[assignment]
        corrections.set_owner(False)


@pytest.fixture(scope="module")
def demo() -> gr.Blocks:
    corrections.set_owner(True)
    try:
        return app.build_demo()
    finally:
        corrections.set_owner(False)


def test_every_visible_english_string_has_a_spanish_entry(plain_demo):
    missing = i18n.missing(plain_demo)
    assert not missing, "add these to ui/locales/es.json (English -> Spanish):\n" + json.dumps(
        dict.fromkeys(missing, ""), indent=2, ensure_ascii=False
    )


def test_the_page_has_the_strings_a_user_sees_first(plain_demo):
    found = i18n.texts(plain_demo)
    assert {"Image", "Model", "Target", "Load model", "Predict", "Report", "Compare", "raises"} <= set(found)
    assert len(found) > 60


def test_every_spanish_entry_is_filled_in_and_usable_as_a_key():
    for english, spanish in i18n.SPANISH.items():
        assert spanish.strip(), f"empty Spanish entry for {english!r}"
        assert "__i18n__" not in spanish and "}" not in english  # Gradio's key marker ends at the first "}"


def test_every_message_pattern_compiles_and_keeps_its_groups():
    for pattern, spanish in i18n.MESSAGES["es"]:
        groups = {int(g) for g in re.findall(r"\\(\d)", spanish)}
        assert groups <= set(range(1, pattern.groups + 1)), pattern.pattern


def test_no_spanish_entry_is_stale(plain_demo):
    """Keys the page no longer shows (a label renamed by a tab) are listed, so the table stays the page's."""
    stale = set(i18n.SPANISH) - set(i18n.texts(plain_demo))
    assert not stale, f"ui/locales/es.json has entries the page no longer shows: {sorted(stale)}"


def test_localise_turns_labels_buttons_and_markdown_into_translation_keys(demo):
    blocks = list(demo.blocks.values())
    labels = [b.label for b in blocks if isinstance(getattr(b, "label", None), I18nData)]
    assert {key.key for key in labels} >= {"Image", "Model", "Report", "Prediction"}
    buttons = [b.value for b in blocks if isinstance(b, gr.Button)]
    assert buttons and all(str(v).startswith("__i18n__") for v in buttons)
    assert not [b.label for b in blocks if isinstance(getattr(b, "label", None), str) and b.label in i18n.SPANISH]
    config = json.dumps(demo.get_config_file(), default=lambda o: o.to_dict() if isinstance(o, I18nData) else str(o))
    assert '"key": "Load model"' in config.replace('\\"', '"')


def test_the_localised_page_keeps_the_api_with_its_english_labels(demo, plain_demo):
    def described(blocks: gr.Blocks) -> str:  # unlabelled outputs are named after their id, which differs per build
        return re.sub(r'"(value|parameter)_\d+"', '"\\1_N"', json.dumps(blocks.get_api_info(), sort_keys=True))

    assert described(demo) == described(plain_demo)
    named = demo.get_api_info()["named_endpoints"]
    assert named["/predict"]["parameters"][0]["label"] == "Image"
    assert [p["parameter_name"] for p in named["/gradcam"]["parameters"]][:3] == ["image", "model_id", "revision"]
    assert not any("i18n_request" in json.dumps(e) for e in named.values())


class _Request:
    def __init__(self, cookies: dict[str, str] | None = None, headers: dict[str, str] | None = None):
        self.cookies, self.headers = cookies or {}, headers or {}


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (None, "en"),
        (_Request(), "en"),
        (_Request(headers={"accept-language": "es-ES,es;q=0.9"}), "es"),
        (_Request(headers={"accept-language": "fr-FR,fr;q=0.9"}), "en"),
        (_Request(cookies={"xai_lang": "es"}, headers={"accept-language": "en-US"}), "es"),
        (_Request(cookies={"xai_lang": "en"}, headers={"accept-language": "es"}), "en"),
        (_Request(cookies={"xai_lang": "klingon"}), "en"),
    ],
)
def test_the_request_language_is_the_cookie_then_accept_language_then_english(request_, expected):
    assert i18n.request_language(request_) == expected


def test_a_spoken_handler_runs_in_the_request_language_and_gains_no_api_parameter():
    @i18n.speaking
    def handler(image: str, k: int = 3) -> str:
        return f"{language.current()} {image} {k}"

    spanish = _Request(headers={"accept-language": "es"})
    assert handler("x", 4, spanish) == "es x 4"
    assert handler("x", i18n_request=spanish) == "es x 3"
    assert handler("x") == "en x 3"
    assert language.current() == "en"
    params = gr.utils.get_function_params(handler)
    assert [p[0] for p in params] == ["image", "k"]


def test_a_spoken_generator_keeps_its_language_across_steps_and_threads():
    @i18n.speaking
    def stream(n: int):
        for _ in range(n):
            yield language.current()

    steps = stream(3, _Request(cookies={"xai_lang": "es"}))
    assert next(steps) == "es"
    assert language.current() == "en"  # the language does not leak out between steps
    assert list(steps) == ["es", "es"]


def test_a_handler_that_already_takes_the_request_keeps_it():
    @i18n.speaking
    def handler(answer: str, request: gr.Request | None = None) -> str:
        return f"{language.current()} {answer} {request is not None}"

    assert handler("cat", _Request(headers={"accept-language": "es"})) == "es cat True"


@pytest.mark.parametrize(
    ("english", "spanish"),
    [
        (
            "no image was given: upload a photo (PNG, JPEG, WebP...) or pick an example",
            "no se ha dado ninguna imagen: sube una foto (PNG, JPEG, WebP...) o elige un ejemplo",
        ),
        (
            "'/etc' is not a Hub repo id: expected owner/name (optionally @revision). Local folders can only be opened "
            "by whoever starts the app (python app.py --model PATH).",
            "'/etc' no es un id de repositorio del Hub",
        ),
        (
            "repo acme/nothing was not found on the Hub (if it is private, set HF_TOKEN)",
            "el repositorio acme/nothing no se encontró en el Hub",
        ),
    ],
)
def test_common_error_messages_are_translated_for_spanish_pages(english, spanish):
    @i18n.speaking
    def handler() -> None:
        raise gr.Error(english, title="ImageError")

    with pytest.raises(gr.Error) as info:
        handler(_Request(headers={"accept-language": "es"}))
    assert info.value.message.startswith(spanish) and info.value.title == "ImageError"
    with pytest.raises(gr.Error) as info:
        handler(_Request(headers={"accept-language": "en"}))
    assert info.value.message == english


def test_an_untranslated_message_is_shown_in_english():
    assert i18n.message("something new went wrong", "es") == "something new went wrong"
    assert i18n.message("no image was uploaded; choose an image file first", "xx").startswith("no image was uploaded")


def _scored(method: str, badge: str) -> SimpleNamespace:
    card = SimpleNamespace(badge=badge, reason="because", notes=[], agreement={})
    return SimpleNamespace(scorecard=card, explanation=SimpleNamespace(method=method, options={}, notes=[]))


def test_compare_cards_rank_the_maps_in_the_request_language():
    scored = [_scored("gradcam", "warn"), _scored("occlusion", "pass")]
    receipts = [
        {
            "method": s.explanation.method,
            "options": {},
            "scorecard": {"badge": s.scorecard.badge, "curves": {"gain": g}},
        }
        for s, g in zip(scored, (0.1, 0.4), strict=True)
    ]
    for r, block in zip(receipts, ranking.rank(receipts), strict=True):
        r["rank"] = block
    english = compare._cards(scored, receipts)
    assert english.startswith("**Ranking** (which map to believe first")
    assert "| 1 | Occlusion | pass | 0.40 / – |" in english
    with language.using("es"):
        spanish = compare._cards(scored, receipts)
    assert spanish.startswith("**Clasificación** (qué mapa creer primero")
    assert "| 1 | Oclusión | aprobado | 0,40 / – |" in spanish and "| 2 | Grad-CAM | aviso | 0,10 / – |" in spanish


def test_the_badge_line_speaks_the_request_language():
    scored = _scored("gradcam", "warn")
    scored.scorecard.reason = (
        "the map is no better than random order at finding what the model uses (gain 0.06, below 0.25)"
    )
    english = common.badge(scored)
    assert english == f"⚠️ **WARN** · {scored.scorecard.reason}"  # English exactly as before
    with language.using("es"):
        spanish = common.badge(scored)
    assert spanish.startswith("⚠️ **AVISO** · ") and "random order" not in spanish and "0,06" in spanish, spanish
