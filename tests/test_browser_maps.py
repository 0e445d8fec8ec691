"""Legible maps in Debian's chromium (Playwright), at a desktop and a phone size (issue 16, items 5-8, and "which map
to believe"): the overlay and its "how to read" text, Compare's ranked gallery of full-size panels with a legend
outside the pictures, the counterfactual's headline and a "Where it changed" that shows the edit, and Reproduce
judging every map of a Compare receipt from the receipt alone, with a picture.

Screenshots land in artifacts/screenshots/maps_<item>_<size>.png (gitignored) for a human look.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gradio_client import Client, handle_file
from helpers_app import ARTIFACTS, COFFEE, call, open_tab, unexpected_server_errors
from PIL import Image
from servers import running_app

from explainers import registry

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = ARTIFACTS / "screenshots"
WAIT_MS = 120_000
SIZES = {"desktop": {"width": 1400, "height": 1000}, "phone": {"width": 390, "height": 844}}
COMPARED = ["gradcam", "hirescam", "occlusion"]  # two Grad-CAM variants (the agreement used to collide) + occlusion
SAVED: dict[str, Path] = {}  # size -> the Compare receipts the page offered, for the Reproduce test


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log = tmp_path_factory.mktemp("browser-maps") / "app.log"
    with running_app(log_path=log) as url:
        yield url, log


@pytest.fixture(scope="module")
def client(server: tuple[str, Path]) -> Client:
    return Client(server[0], verbose=False)


@pytest.fixture(scope="module", params=list(SIZES))
def page(request: pytest.FixtureRequest, browser: Any, server: tuple[str, Path]) -> Iterator[Any]:
    """One page per size, on which the tests run in order on the same upload, as a user would click through."""
    page = browser.new_page(viewport=SIZES[request.param])
    page.set_default_timeout(30_000)
    page.goto(server[0])
    page.get_by_role("button", name="Predict", exact=True).wait_for()
    page.locator("input[type=file]").first.set_input_files(str(COFFEE))
    page.locator("img[src*='gradio_api/file=']").first.wait_for()
    page.size = request.param  # type: ignore[attr-defined]
    yield page
    page.close()


def _screenshot(page: Any, item: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"maps_{item}_{page.size}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _panel(page: Any) -> Any:
    return page.get_by_role("tabpanel").filter(visible=True)


def _wait_for_text(page: Any, text: str) -> None:
    page.wait_for_function(
        """text => {
            const panel = [...document.querySelectorAll('[role=tabpanel]')].find(p => p.offsetParent !== null);
            return panel && panel.innerText.includes(text);
        }""",
        arg=text,
        timeout=WAIT_MS,
    )


def _picture(page: Any, img: Any) -> np.ndarray:
    response = page.request.get(img.evaluate("el => el.src"))
    assert response.ok, response.status
    return np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))


def _no_sideways_scroll(page: Any) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 2, f"the page scrolls sideways by {overflow} px at {page.size}"


def test_5_the_occlusion_map_says_how_to_read_it_and_stays_visible(page: Any) -> None:
    open_tab(page, "Occlusion")
    panel = _panel(page)
    panel.get_by_role("button", name="Explain with occlusion").click()
    _wait_for_text(page, "How to read the picture")
    text = panel.inner_text()
    shot = _screenshot(page, "5_overlay")
    assert "darker grey border" in text and "yellow box" in text, shot
    assert "faster than random order" in text and "put back" in text, shot  # the badge's words, explained
    overlay = _picture(page, panel.locator("img").first)
    assert overlay.shape[1] >= 400  # the upload's own size, not the model's 224
    grey = (overlay[..., 0] == overlay[..., 1]) & (overlay[..., 1] == overlay[..., 2])
    assert grey.mean() > 0.2, "the photo under the map is shown in grey"
    black = (overlay.max(axis=2) < 10).mean()
    assert black > 0.001, "strong evidence is outlined"
    _no_sideways_scroll(page)


def test_6_compare_ranks_the_maps_in_a_gallery_of_full_size_panels_with_a_legend(page: Any) -> None:
    open_tab(page, "Compare")
    panel = _panel(page)
    for key in registry.entries():
        box = panel.get_by_label(registry.label(key), exact=True)
        box.set_checked(key in COMPARED)
    panel.get_by_role("button", name="Compare on one colour scale").click()
    panel.locator(".thumbnail-lg img").nth(len(COMPARED) - 1).wait_for(timeout=WAIT_MS)
    _wait_for_text(page, "Which map to believe")
    shot = _screenshot(page, "6_compare")
    captions = panel.locator(".caption-label").all_inner_texts()
    assert [c.split()[0] for c in captions] == ["#1", "#2", "#3"], (captions, shot)
    assert {c.split()[1] for c in captions} == {"Grad-CAM", "HiResCAM", "Occlusion"}
    text = panel.inner_text()
    assert "Trust " in text or "No map passes" in text or "trust none" in text, shot
    assert "Gain vs random order" in text and "Blurred copy" in text  # the ranked table and its controls
    legend = panel.locator(".xai-legend")
    assert "evidence density" in legend.inner_text() and legend.is_visible(), shot
    first = panel.locator(".thumbnail-lg img").first
    assert _picture(page, first).shape[1] >= 400, "each panel is the upload at full size"
    width = first.evaluate("el => el.getBoundingClientRect().width")
    column = panel.evaluate("el => el.getBoundingClientRect().width")
    share = 0.8 if page.size == "phone" else 0.4  # one panel a row on a phone, two elsewhere
    assert width >= share * column, f"a panel is {width} px wide in a {column} px column at {page.size}"
    bottom = panel.locator(".thumbnail-lg").last.evaluate("el => el.getBoundingClientRect().bottom")
    box = panel.locator(".grid-wrap").evaluate("el => el.getBoundingClientRect().bottom")
    assert bottom <= box + 1, "every panel shows in full, none cut off by the gallery's own scroll box"
    receipts = json.loads(page.request.get(panel.locator("a[href$='.json']").first.get_attribute("href")).body())
    assert [registry.key(r["method"], r["options"]) for r in receipts] == COMPARED
    assert sorted(r["rank"]["position"] for r in receipts) == [1, 2, 3]
    assert set(receipts[0]["scorecard"]["agreement"]) == {"hirescam", "occlusion"}
    SAVED[page.size] = ARTIFACTS / f"compare-receipts-{page.size}.json"
    SAVED[page.size].write_text(json.dumps(receipts))
    _no_sideways_scroll(page)


def test_7_the_counterfactual_says_what_the_prediction_became_and_where_the_edit_is(page: Any) -> None:
    open_tab(page, "Counterfactual")
    panel = _panel(page)
    panel.get_by_role("button", name="Find a counterfactual").click()
    heading = panel.locator("h2").filter(has_text="->").first
    heading.wait_for(timeout=WAIT_MS)
    shot = _screenshot(page, "7_counterfactual")
    assert re.fullmatch(r"espresso \d+% -> .+ \d+(\.\d)?%.*", heading.inner_text().strip()), heading.inner_text()
    label = page.get_by_test_id("block-label").filter(has_text="Where it changed")
    masked = _picture(page, panel.locator("div.block", has=label).locator("img"))
    coloured = ~((masked[..., 0] == masked[..., 1]) & (masked[..., 1] == masked[..., 2]))
    assert coloured.mean() > 0.005, f"'Where it changed' shows {coloured.mean():.2%} of the photo ({shot})"
    _no_sideways_scroll(page)


def test_8_reproduce_judges_every_map_of_a_compare_receipt_from_the_receipt_alone(page: Any) -> None:
    if page.size not in SAVED:
        pytest.skip("needs the receipts the Compare tab offered (its test failed or did not run)")
    open_tab(page, "Reproduce")
    panel = _panel(page)
    panel.locator("input[type=file][accept='.json']").set_input_files(str(SAVED[page.size]))
    panel.get_by_role("button", name="Replay", exact=True).click()
    panel.locator(".thumbnail-lg img").nth(len(COMPARED) - 1).wait_for(timeout=WAIT_MS)
    _wait_for_text(page, '"maps"')
    shot = _screenshot(page, "8_reproduce")
    captions = panel.locator(".caption-label").all_inner_texts()
    assert len(captions) == len(COMPARED) and all(c.endswith(("identical", "reproduced")) for c in captions), shot
    text = panel.inner_text()
    assert "differs" not in text and "unchecked" not in text, shot
    _no_sideways_scroll(page)


def test_the_api_contract_keeps_five_compare_outputs_and_two_replay_outputs(client: Client, tmp_path: Path) -> None:
    out = call(client, "compare", [handle_file(str(COFFEE)), "default", "", "top-1", "raises", list(registry.CLASSIC)])
    assert len(out) == 5
    _shown, cards, report, receipts_file, receipts = out
    assert [r["method"] for r in receipts] == list(registry.CLASSIC)
    assert "Which map to believe" in report and "Ranking" in cards
    replayed = call(client, "replay", [handle_file(str(COFFEE)), handle_file(receipts_file), None])
    assert len(replayed) == 2
    npy, result = replayed
    assert np.load(npy).ndim == 2 and len(result["maps"]) == 3
    assert all(m["reproduced"] for m in result["maps"]), result


def test_no_handler_crashed_behind_the_pages(server: tuple[str, Path]) -> None:
    crashes = unexpected_server_errors(server[1].read_text(errors="replace"))
    assert not crashes, crashes
