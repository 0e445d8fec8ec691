"""Which map to believe: the ranking of Compare's maps, its sentence and table, and agreement keyed per variant."""

from __future__ import annotations

from typing import Any

import planted
import pytest
import torch

from explainers import registry
from explainers.methods import gradcam, occlusion
from explainers.trust import ranking, report
from explainers.trust import scorecard as quality

torch.set_num_threads(1)


def card(badge: str, gain: float | None, blurred: float | None = None, rho: float | None = None) -> dict[str, Any]:
    aucs = {"deletion_auc": 0.3, "random_deletion_auc": 0.5, "insertion_auc": 0.7, "random_insertion_auc": 0.5}
    curves = None if gain is None else {"gain": gain, "blurred_gain": blurred, **aucs}
    return {
        "badge": badge,
        "reason": "because",
        "curves": curves,
        "randomisation": rho,
        "agreement": {},
        "notes": [],
        "baselines": "blur",
    }


def receipt(method: str, scorecard: dict[str, Any], variant: str | None = None) -> dict[str, Any]:
    return {"method": method, "options": {"variant": variant} if variant else {}, "scorecard": scorecard}


def test_a_passing_map_outranks_a_warning_with_a_higher_gain() -> None:
    blocks = ranking.rank([receipt("occlusion", card("warn", 0.9)), receipt("gradcam", card("pass", 0.3))])
    assert [b["position"] for b in blocks] == [2, 1]
    assert blocks[1]["trusted"] and not blocks[0]["trusted"]


def test_within_a_badge_the_higher_gain_comes_first() -> None:
    blocks = ranking.rank([receipt("gradcam", card("pass", 0.3)), receipt("occlusion", card("pass", 0.5))])
    assert [b["position"] for b in blocks] == [2, 1]


def test_losing_to_its_own_blurred_copy_costs_a_map_its_place() -> None:
    sharp = receipt("occlusion", card("pass", 0.40, blurred=0.20))
    rough = receipt("integrated_gradients", card("pass", 0.42, blurred=0.60))  # score 0.42 - 0.18 = 0.24
    assert [b["position"] for b in ranking.rank([rough, sharp])] == [2, 1]


def test_a_map_that_is_the_same_for_every_target_ranks_after_its_badge() -> None:
    blocks = ranking.rank([receipt("gradcam", card("pass", 0.5), "eigencam"), receipt("gradcam", card("pass", 0.3))])
    assert [b["position"] for b in blocks] == [2, 1]
    assert [b["key"] for b in blocks] == ["eigencam", "gradcam"]


def test_an_untested_map_ranks_last_of_its_badge_and_stays_json_ready() -> None:
    blocks = ranking.rank([receipt("gradcam", card("warn", None)), receipt("occlusion", card("warn", 0.1))])
    assert [b["position"] for b in blocks] == [2, 1] and blocks[0]["score"] is None


def test_the_sentence_names_the_map_to_trust_and_why() -> None:
    receipts = [receipt("gradcam", card("pass", 0.30, 0.29), "hirescam"), receipt("occlusion", card("pass", 0.4, 0.2))]
    for r, block in zip(receipts, ranking.rank(receipts), strict=True):
        r["rank"] = block
    text = ranking.trust_sentence(receipts)
    assert text.startswith("**Trust Occlusion** first")
    assert "random order" in text and "blurred copy" in text and "Next: HiResCAM" in text


@pytest.mark.parametrize(("badges", "words"), [(("warn", "fail"), "No map passes"), (("fail", "fail"), "trust none")])
def test_the_sentence_says_so_when_no_map_passes(badges: tuple[str, str], words: str) -> None:
    receipts = [receipt("gradcam", card(badges[0], 0.1)), receipt("occlusion", card(badges[1], -0.4))]
    for r, block in zip(receipts, ranking.rank(receipts), strict=True):
        r["rank"] = block
    assert words in ranking.trust_sentence(receipts)


def test_receipts_without_rank_blocks_give_no_sentence() -> None:
    assert ranking.trust_sentence([receipt("gradcam", card("pass", 0.3))]) == ""


def test_the_table_lists_the_maps_in_rank_order_with_both_controls() -> None:
    receipts = [receipt("gradcam", card("warn", 0.1, 0.2, rho=0.6)), receipt("occlusion", card("pass", 0.4, 0.3))]
    for r, block in zip(receipts, ranking.rank(receipts), strict=True):
        r["rank"] = block
    rows = ranking.table(receipts).splitlines()
    assert "Gain vs random order" in rows[0] and "Blurred copy" in rows[0]
    assert rows[2] == "| 1 | Occlusion | pass | 0.40 / 0.30 |"
    assert rows[3] == "| 2 | Grad-CAM | warn | 0.10 / 0.20 |"


def test_every_variant_is_a_compare_entry_with_its_own_key_and_label() -> None:
    keys = registry.entries()
    assert keys[0] == "gradcam" and {"hirescam", "gradcam++", "eigencam", "attention"} <= set(keys)
    assert keys[-2:] == ["occlusion", "integrated_gradients"] and len(set(keys)) == len(keys)
    assert registry.entry("hirescam") == ("gradcam", {"variant": "hirescam"})
    assert registry.entry("occlusion") == ("occlusion", {})
    assert registry.key("gradcam", {"variant": "layercam"}) == "layercam"
    assert registry.label("gradcam++") == "Grad-CAM++"


def test_an_unknown_entry_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown method 'rise'; choose one of gradcam, hirescam"):
        registry.entry("rise")


def test_attention_rollout_applies_only_to_vit_style_models() -> None:
    assert "attention" not in registry.applicable(planted.planted_classifier())
    assert "attention" in registry.applicable(planted.planted_vit())
    assert {"occlusion", "integrated_gradients"} <= set(registry.applicable(planted.planted_classifier()))


def test_two_grad_cam_variants_each_get_their_own_agreement() -> None:
    """The agreement used to be keyed by method name, so HiResCAM overwrote Grad-CAM's entry."""
    loaded = planted.planted_classifier()
    image = planted.random_images(1, 64)
    maps = [gradcam.explain(loaded, image), gradcam.explain(loaded, image, variant="layercam")]
    maps.append(occlusion.explain(loaded, image, target=maps[0].target))
    cards = quality.scorecards(loaded, image, maps, steps=4, sanity=False)
    assert set(cards[2].agreement) == {"gradcam", "layercam"}
    assert set(cards[0].agreement) == {"layercam", "occlusion"}


def test_the_report_says_which_map_to_believe_and_how_to_read_the_picture() -> None:
    base = {
        "target": {"name": "espresso", "index": 0, "kind": "multiclass", "direction": "raises"},
        "score": 3.0,
        "prediction": None,
        "evidence": {"positive_share": 1.0, "area_half": 0.1, "main_share": 0.6, "main": "centre", "peak": "centre"},
        "image": {"sha256": "ab", "width": 100, "height": 80, "crop_box": [10.0, 0.0, 90.0, 80.0]},
        "model": {"id": "default", "weights_sha256": "cd"},
        "notes": [],
        "extras": {"critical_box": [0, 0, 4, 4]},
    }
    receipts = [
        {**base, **receipt("occlusion", card("pass", 0.4, 0.3))},
        {**base, **receipt("gradcam", card("warn", 0.1), "hirescam")},
    ]
    for r, block in zip(receipts, ranking.rank(receipts), strict=True):
        r["rank"] = block
    text = report.report(receipts[0], others=receipts[1:])
    assert "### Which map to believe\n**Trust Occlusion** first" in text
    assert "### How to read the picture" in text
    assert "darker grey border" in text and "yellow box" in text and "2.2x faster" in text
