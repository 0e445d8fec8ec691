"""The page in chromium with a Spanish locale: Spanish labels, buttons and tabs, and a Spanish report with decimal
commas; an unknown locale gets English; Gradio's Settings language picker switches an English page to Spanish,
the report included.

Screenshots land in artifacts/screenshots/ (i18n_*.png).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client, handle_file
from helpers_app import ARTIFACTS, COFFEE, open_tab, unexpected_server_errors
from servers import running_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = ARTIFACTS / "screenshots"
WAIT_MS = 120_000
VIEWPORT = {"width": 1400, "height": 1000}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log = tmp_path_factory.mktemp("browser_i18n") / "app.log"
    with running_app(log_path=log) as url:
        yield url, log


def _open(browser: Any, url: str, locale: str, ready: str) -> Any:
    page = browser.new_page(viewport=VIEWPORT, locale=locale)
    page.set_default_timeout(30_000)
    page.goto(url)
    page.get_by_role("button", name=ready, exact=True).wait_for()
    page.locator("input[type=file]").first.set_input_files(str(COFFEE))
    page.locator("img[src*='gradio_api/file=']").first.wait_for()
    return page


def _report(page: Any, tab: str, button: str, heading: str) -> str:
    """Run a tab's explanation and return the visible report's text once it is there."""
    open_tab(page, tab)
    page.get_by_role("button", name=button, exact=True).click()
    panel = page.get_by_role("tabpanel").filter(visible=True)
    panel.get_by_role("heading", name=heading).first.wait_for(timeout=WAIT_MS)
    return str(panel.inner_text())


def _screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"i18n_{name}.png"), full_page=True)


def test_a_spanish_browser_gets_the_page_and_the_report_in_spanish(browser, server):
    page = _open(browser, server[0], "es-ES", "Predecir")
    try:
        assert page.evaluate("document.documentElement.lang") == "es"
        body = page.inner_text("body")
        for spanish in ("Modelo", "Cargar modelo", "Objetivo", "Predicción", "Imagen"):
            assert spanish in body, spanish
        assert not re.search(r"\b(Load model|Explain what)\b", body)
        assert page.get_by_role("tab", name="Oclusión", exact=True).count() or "Oclusión" in page.inner_html("body")
        text = _report(page, "Grad-CAM", "Explicar con Grad-CAM", "Predicción")
        _screenshot(page, "spanish_gradcam")
        assert "El modelo dice" in text and "Dónde está la evidencia" in text, text[:1500]
        assert re.search(r"\d+\u00a0%", text), "percentages are written '96 %' in Spanish"
        assert re.search(r"AUC de borrado \d,\d\d frente a \d,\d\d", text), text[:3000]
    finally:
        page.close()


def test_an_unknown_browser_language_gets_english(browser, server):
    page = _open(browser, server[0], "fr-FR", "Predict")
    try:
        body = page.inner_text("body")
        assert "Load model" in body and "Cargar modelo" not in body
        text = _report(page, "Grad-CAM", "Explain with Grad-CAM", "Prediction")
        assert "The model says" in text and "El modelo dice" not in text
    finally:
        page.close()


def test_the_settings_language_picker_switches_an_english_page_and_its_report_to_spanish(browser, server):
    page = _open(browser, server[0], "en-US", "Predict")
    try:
        page.get_by_role("button", name="Settings").click()  # the footer link: Gradio's settings panel
        page.get_by_role("combobox", name="Language").click()
        page.get_by_role("option", name="Español").click()
        page.keyboard.press("Escape")
        page.wait_for_function("document.documentElement.lang === 'es'")  # Gradio loads the locale, then sets it
        page.get_by_role("button", name="Predecir", exact=True).wait_for()
        page.locator("[role=dialog] .banner-wrap button").first.click()  # close the panel; the page keeps Spanish
        page.locator("[role=dialog]").wait_for(state="detached")
        text = _report(page, "Grad-CAM", "Explicar con Grad-CAM", "Predicción")
        _screenshot(page, "switched_gradcam")
        assert "El modelo dice" in text, text[:1500]
    finally:
        page.close()


def test_a_spanish_page_reads_the_missing_image_message_in_spanish(browser, server):
    page = browser.new_page(viewport=VIEWPORT, locale="es-ES")
    try:
        page.goto(server[0])
        page.get_by_role("button", name="Predecir", exact=True).click()  # no photo uploaded
        page.get_by_text("no se ha dado ninguna imagen", exact=False).first.wait_for(timeout=WAIT_MS)
    finally:
        page.close()


def test_api_clients_get_english_unless_they_ask_for_spanish(server):
    for headers, expected in (({}, "no image was given"), ({"Accept-Language": "es-ES,es;q=0.9"}, "no se ha dado")):
        client = Client(server[0], verbose=False, headers=headers)
        with pytest.raises(Exception, match=expected):
            client.predict(None, "default", "", api_name="/predict")
    spanish = Client(server[0], verbose=False, headers={"Accept-Language": "es"})
    outputs = spanish.predict(
        handle_file(str(COFFEE)), "default", "", "top-1", "raises", "", "gradcam", api_name="/gradcam"
    )
    assert outputs[2].startswith("### Predicción\nEl modelo dice"), outputs[2][:300]


def test_the_server_logged_no_unexpected_error(server):
    assert not unexpected_server_errors(server[1].read_text())
