"""Reference labels in the model's own terms: a class, a set of labels, or values, as the model's task says."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import GalleryError
from ..types import TaskInfo

NO_LABEL = object()  # what read_label returns for a reference that carries no label for this task
_TRUE = frozenset({"1", "true", "yes", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "n", "f", ""})
_SEPARATORS = re.compile(r"[;|]")  # label lists in one CSV cell: "cat;dog" or "cat|dog" (names may hold commas)


def label_key(name: str) -> str:
    """A name without case, spaces or punctuation: folder "T-shirt_top" and class "T-shirt/top" meet here."""
    return re.sub(r"[^0-9a-z]", "", name.casefold())


class NameMatcher:
    """Turns what a source calls a label into the model's output index: exactly, else by label_key."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self._exact = {n: i for i, n in enumerate(self.names)}
        keys: dict[str, list[int]] = {}
        for i, n in enumerate(self.names):
            keys.setdefault(label_key(n), []).append(i)
        self._loose = {k: v[0] for k, v in keys.items() if len(v) == 1}
        self.unknown: dict[str, int] = {}

    def index(self, raw: Any) -> int | None:
        """The output index of a name (or of an integer index in range); None, remembered in ``unknown``, if none."""
        if isinstance(raw, (int, np.integer)) and not isinstance(raw, bool):
            if 0 <= int(raw) < len(self.names):
                return int(raw)
        else:
            text = str(raw).strip()
            found = self._exact.get(text, self._loose.get(label_key(text)))
            if found is not None:
                return found
            if text.isdigit() and int(text) < len(self.names) and label_key(text) not in self._loose:
                return int(text)
        self.unknown[str(raw)] = self.unknown.get(str(raw), 0) + 1
        return None

    def check(self, where: str) -> None:
        """Refuse the source if any label was not one of the model's names.

        Raises:
            GalleryError: naming the unknown labels and the model's own.
        """
        if not self.unknown:
            return
        shown = ", ".join(f"{name!r} ({n})" for name, n in list(self.unknown.items())[:8])
        more = f" and {len(self.unknown) - 8} more" if len(self.unknown) > 8 else ""
        known = ", ".join(self.names[:20]) + (", ..." if len(self.names) > 20 else "")
        raise GalleryError(
            f"{where}: labels that are not among the model's outputs: {shown}{more}. The model knows: {known}. "
            "Rename the folders or labels to match (case and punctuation are ignored)"
        )


def read_label(task: TaskInfo, raw: Any, matcher: NameMatcher) -> Any:
    """One reference's label as the task needs it, or NO_LABEL.

    Args:
        task: the model's task.
        raw: a class folder's name, or a row of a labels file or data set (a mapping: "label" for a class; "labels"
            as a list or "a;b" text, or one 0/1 column per label name; "values" as a list or mapping, or one column
            per target name).
        matcher: names the model's outputs; unknown names are collected there.

    Returns:
        multiclass: the class index (None for an unknown name); multilabel: the set of label indices; regression: a
        tuple of floats.

    Raises:
        GalleryError: a value that is not a number where one is needed.
    """
    row = raw if isinstance(raw, Mapping) else {"label": raw}
    if task.kind == "multiclass":
        value = next((row[k] for k in ("label", "class", "labels") if _present(row.get(k))), NO_LABEL)
        if isinstance(value, (list, tuple)):
            value = value[0] if len(value) == 1 else NO_LABEL
        return value if value is NO_LABEL else matcher.index(value)
    if task.kind == "multilabel":
        if "labels" in row and row["labels"] is not None:
            items = row["labels"]
            if isinstance(items, str):
                items = [part for part in _SEPARATORS.split(items) if part.strip()]
            found = {matcher.index(item) for item in items}
            return {i for i in found if i is not None}
        columns = [n for n in task.names if n in row]
        if not columns:
            return NO_LABEL
        return {task.names.index(n) for n in columns if _truthy(row[n], n)}
    values = row.get("values")
    if isinstance(values, Mapping):
        row, values = values, None
    if values is not None:
        if not isinstance(values, (list, tuple)) or len(values) != task.num_outputs:
            expected = f"{task.num_outputs} numbers ({', '.join(task.names)})"
            raise GalleryError(f"'values' must list {expected}, got {values!r}")
        return tuple(_number(v, n) for v, n in zip(values, task.names, strict=True))
    if len(task.names) == 1 and "value" in row and task.names[0] not in row:
        return (_number(row["value"], task.names[0]),)
    if not all(_present(row.get(n)) for n in task.names):
        return NO_LABEL
    return tuple(_number(row[n], n) for n in task.names)


def encode(task: TaskInfo, labels: Sequence[Any]) -> np.ndarray:
    """Read labels -> one array: class indices int64 (N,), label memberships uint8 (N, K) or values float32 (N, K)."""
    if task.kind == "multiclass":
        return np.asarray(labels, dtype=np.int64).reshape(-1)
    if task.kind == "multilabel":
        out = np.zeros((len(labels), task.num_outputs), dtype=np.uint8)
        for row, members in enumerate(labels):
            out[row, sorted(members)] = 1
        return out
    return np.asarray(labels, dtype=np.float32).reshape(len(labels), task.num_outputs)


def describe(task: TaskInfo, label: np.ndarray | np.generic | int) -> str:
    """A reference's label in words: "Sneaker", "cat, dog" (or "none"), "calories 312 kcal"."""
    values = np.asarray(label)
    if task.kind == "multiclass":
        return task.names[int(values)]
    if task.kind == "multilabel":
        return ", ".join(task.names[i] for i in np.flatnonzero(values)) or "none"
    units = task.units or ("",) * task.num_outputs
    return ", ".join(f"{n} {float(v):.4g} {u}".strip() for n, v, u in zip(task.names, values, units, strict=True))


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _truthy(value: Any, name: str) -> bool:
    text = str(value).strip().casefold()
    if isinstance(value, bool) or text in _TRUE | _FALSE:
        return bool(value) if isinstance(value, bool) else text in _TRUE
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise GalleryError(f"label column {name!r} must hold 0/1 (or true/false), got {value!r}")


def _number(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GalleryError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise GalleryError(f"{name} must be a finite number, got {value!r}")
    return number
