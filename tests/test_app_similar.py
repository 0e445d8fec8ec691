"""Similar cases through the real app: the Fashion-MNIST demo model with its gallery, and models without one."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from hub_stub import HubStub
from servers import ROOT, running_app

COFFEE = str(ROOT / "examples" / "coffee.jpg")


@pytest.fixture(scope="module")
def demo_client(fashion_demo):
    with running_app(args=["--model", str(fashion_demo.model_dir)]) as url:
        yield Client(url, verbose=False)


def _held_aside(fashion_demo, n: int) -> list[tuple[Path, str]]:
    """(image, true class folder) for n held-aside test images across classes."""
    pictures = sorted(p for p in Path(fashion_demo.test).rglob("*.png"))
    return [(p, p.parent.name) for p in pictures[:: max(1, len(pictures) // n)][:n]]


def test_similar_endpoint_finds_neighbours_of_the_true_class_for_held_aside_images(demo_client, fashion_demo):
    cases = _held_aside(fashion_demo, 10)
    hits = 0
    for picture, truth in cases:
        items, summary, result = demo_client.predict(handle_file(str(picture)), "default", "", 5, api_name="/similar")
        nearest = result["neighbours"][0]["label"]
        hits += nearest.replace("/", "_") == truth
        assert len(result["neighbours"]) == 5 and result["gallery"]["sha256"]
        unlike = result["nearest_unlike"]
        assert unlike is None or unlike["label"] != result["prediction"]
        assert result["prediction"] in summary
        assert len(items) == 5 + (unlike is not None)
    assert hits >= 8, f"{hits}/10 nearest neighbours of the true class"


def test_similar_endpoint_says_how_to_add_a_gallery_when_the_model_has_none():
    with running_app() as url, pytest.raises(Exception) as info:
        Client(url, verbose=False).predict(handle_file(COFFEE), "default", "", 8, api_name="/similar")
    assert "no reference gallery" in str(info.value) and "--gallery" in str(info.value)


def test_a_gallery_built_for_other_weights_is_refused_and_the_app_keeps_serving(fashion_demo, tmp_path):
    log = tmp_path / "app.log"
    with running_app(args=["--gallery", str(fashion_demo.model_dir / "gallery")], log_path=log) as url:
        client = Client(url, verbose=False)
        *_, result = client.predict(handle_file(COFFEE), "default", "", api_name="/predict")
        assert result["decision"] == "espresso"
        with pytest.raises(Exception, match="no reference gallery"):
            client.predict(handle_file(COFFEE), "default", "", 8, api_name="/similar")
    assert "was built for other weights" in log.read_text()


@pytest.fixture
def demo_startup(fashion_demo):
    """The handlers' "default" is the demo model for the test, the built-in model again afterwards."""
    import explainers as xai
    from ui import common

    before = common.model("default", "").source
    common.set_startup_source(xai.parse_source(str(fashion_demo.model_dir), allow_local=True))
    yield fashion_demo
    common.set_startup_source(before)


@pytest.mark.parametrize("k", ["abc", None, 0, 65, 2.5, float("nan")])
def test_a_bad_neighbour_count_gets_our_message(demo_startup, k):
    import gradio as gr

    from ui import similar

    picture, _ = _held_aside(demo_startup, 1)[0]
    with pytest.raises(gr.Error, match="k must be"):
        similar.on_similar(str(picture), "default", "", k)


def test_the_handler_returns_one_value_per_output_of_its_event(demo_startup):
    import app
    from ui import similar

    config = app.build_demo().get_config_file()
    outputs = next(len(d["outputs"]) for d in config["dependencies"] if d.get("api_name") == "similar")
    picture, _ = _held_aside(demo_startup, 1)[0]
    assert len(similar.on_similar(str(picture), "default", "", 3)) == outputs


def test_the_handler_returns_the_neighbours_and_the_nearest_unlike_last(demo_startup):
    from ui import similar

    picture, _ = _held_aside(demo_startup, 1)[0]
    items, _summary, result = similar.on_similar(str(picture), "default", "", 3)
    assert [caption.split(" · ")[0] for _, caption in items[:3]] == [n["label"] for n in result["neighbours"]]
    if result["nearest_unlike"] is not None:
        assert items[-1][1].startswith("nearest unlike: ")


def test_a_hub_model_brings_its_gallery_from_its_repo(fashion_demo, tmp_path):
    """upload_model.py --gallery publishes gallery/ beside the weights: the app finds it for the Hub id, offline
    afterwards from the cache, and a repo without one still says how to add one."""
    folder = Path(fashion_demo.model_dir)
    files = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}
    assert any(name.startswith("gallery/") for name in files)
    picture, _ = _held_aside(fashion_demo, 1)[0]
    with HubStub() as stub:
        stub.add_repo("acme/fashion", files)
        stub.add_repo("acme/bare", {n: p for n, p in files.items() if not n.startswith("gallery/")})
        env = stub.client_env(tmp_path / "hf_home") | {"XAI_CACHE_DIR": str(tmp_path / "xai"), "HF_HUB_OFFLINE": "0"}
        with running_app(env=env) as url:
            client = Client(url, verbose=False)
            with pytest.raises(Exception, match="no reference gallery"):  # same weights, no gallery/ in its repo
                client.predict(handle_file(str(picture)), "acme/bare", "", 5, api_name="/similar")
            _, _, result = client.predict(handle_file(str(picture)), "acme/fashion", "", 5, api_name="/similar")
            assert len(result["neighbours"]) == 5 and result["gallery"]["count"] > 0
        assert any(path.startswith("/api/models/acme/fashion/tree/") for _, path in stub.requests)
    # The Hub gone: the same model and its gallery from the cache.
    offline = env | {"HF_HUB_OFFLINE": "1"}
    with running_app(env=offline) as url:
        _, _, again = Client(url, verbose=False).predict(
            handle_file(str(picture)), "acme/fashion", "", 5, api_name="/similar"
        )
    assert again["neighbours"] == result["neighbours"]
