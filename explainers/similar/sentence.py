"""The report's sentence on similar cases, from their JSON summary (SimilarCases.summary, or a receipt's copy).

Light on purpose (no torch, numpy or faiss): trust.report imports it to turn a receipt into text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def report_sentence(summary: Mapping[str, Any]) -> str:
    """One sentence (two at most) on how the nearest references bear on the prediction; fixed templates.

    Args:
        summary: SimilarCases.summary() or the "similar" entry of a receipt.
    """
    k, count = int(summary["k"]), int(summary["gallery"]["count"])
    among = f"Of the {k} reference image{'s' * (k != 1)} most similar to this one (among {count:,})"
    if summary["task"] == "regression":
        parts = []
        for v in summary["values"]:
            unit = f" {v['unit']}" if v.get("unit") else ""
            parts.append(
                f"{v['name']} runs from {_n(v['low'])} to {_n(v['high'])}{unit} (median {_n(v['median'])}), against "
                f"a predicted {_n(v['predicted'])}{unit}"
            )
        return f"{among}, {'; '.join(parts)}."
    share = float(summary["agreement"] or 0.0)
    agreeing = round(share * k)
    unlike = summary.get("nearest_unlike")
    if summary["task"] == "multilabel":
        predicted = [c["name"] for c in summary["labels"] if c["predicted"]]
        labels = ", ".join(predicted) if predicted else "no label"
        text = f"{among}, {agreeing} ({_pct(share)}) carry exactly the predicted labels ({labels})"
        per_label = sorted(summary["labels"], key=lambda c: c["agreement"])
        if per_label:
            low, high = per_label[0], per_label[-1]
            text += (
                f"; per label, the neighbours agree with the prediction from {_pct(low['agreement'])} "
                f"({low['name']}) to {_pct(high['agreement'])} ({high['name']})"
            )
        return text + "."
    predicted = summary["prediction"]
    if agreeing == 0 and unlike is not None:
        top = summary["votes"][0] if summary.get("votes") else {"label": unlike["label"], "count": k}
        return (
            f"{among}, none is labelled {predicted}, the prediction: most are {top['label']} ({top['count']}), and "
            f"the nearest is {unlike['label']} (similarity {unlike['similarity']:.2f})."
        )
    text = f"{among}, {agreeing} ({_pct(share)}) are labelled {predicted}, like the prediction"
    if unlike is None:
        return f"{text}; every reference in the gallery is labelled {predicted}."
    nearest = summary["neighbours"][0]["similarity"]
    return (
        f"{text}. The closest reference labelled otherwise is {unlike['label']} "
        f"(similarity {unlike['similarity']:.2f}, against {nearest:.2f} for the nearest)."
    )


def _pct(share: float) -> str:
    return f"{100 * share:.0f}%"


def _n(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
