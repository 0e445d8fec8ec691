"""Keep the layers pointing one way: app.py -> ui -> explainers; CLIs -> publishing/finetuning -> explainers.models.

Fails (exit 1, one line per finding) on:
- an import cycle between the project's modules (function-local and TYPE_CHECKING imports count too);
- gradio (or spaces) imported anywhere under explainers/, publishing/ or finetuning/;
- an edge that points up the layers in LAYERS, or out of what a package may use (ALLOWED);
- an import of a project module inside a function (the usual way to hide an upward edge or a cycle);
- a module over MAX_LINES in explainers/, ui/, publishing/ or finetuning/, or an entry point over MAX_ENTRY_LINES.

Run: python scripts/check_layers.py [--root DIR]
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGES = ("explainers", "ui", "publishing", "finetuning")
ENTRY_POINTS = ("app.py", "upload_model.py", "finetune.py")
MAX_LINES = 400
MAX_ENTRY_LINES = 250
NO_GRADIO = ("explainers", "publishing", "finetuning")
GRADIO = ("gradio", "gradio_client", "spaces")
# Lower rank = lower layer. A module may import its own rank or lower; the first matching prefix gives the rank.
LAYERS: tuple[tuple[str, int], ...] = (
    ("explainers.errors", 0),
    ("explainers.types", 0),
    ("explainers.options", 0),
    # A generic bounded memo (numpy only): the prediction cache (models) and the scorecard's (trust) both use it.
    ("explainers.cache", 0),
    ("explainers.models", 1),
    ("explainers.targets", 2),
    ("explainers.layers", 2),
    ("explainers.render", 2),
    ("explainers.display", 2),
    ("explainers.registry", 2),
    ("explainers.methods", 3),
    ("explainers.counterfactual", 4),
    ("explainers.trust", 4),
    ("explainers.similar", 4),
    ("explainers.cost", 4),
    ("explainers.corrections", 4),
    ("explainers.pipeline", 5),
    # Many images through the pipeline into one zip + CSV: it reads pipeline's results, so it sits with it.
    ("explainers.batch", 5),
    ("explainers", 6),
    ("publishing", 7),
    # Below ui on purpose: the owner's status (ui/corrections.py) starts and reads finetuning.retrain's background job.
    ("finetuning", 8),
    ("ui", 9),
    ("app", 10),
    ("upload_model", 10),
    ("finetune", 10),
)
# Packages that may only reach part of the tree below them.
ALLOWED: dict[str, tuple[str, ...]] = {
    "publishing": (
        "publishing",
        "explainers.models",
        "explainers.similar",  # a model's reference gallery is published with it (upload_model.py --gallery)
        "explainers.errors",
        "explainers.types",
        "explainers.options",
    ),
    "upload_model": ("publishing", "explainers.errors"),
    "finetune": ("finetuning", "explainers.errors"),
}


def rank(module: str) -> int:
    """The layer of a dotted module name (-1 for anything outside the project)."""
    for prefix, value in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return value
    return -1


def modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file, for every project module under root."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    for name in ENTRY_POINTS:
        if (root / name).is_file():
            found[name[:-3]] = root / name
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, inside a function?) for each import in a module, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(node: ast.AST, in_function: bool) -> Iterator[tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, child.lineno, in_function
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    yield (full if full in known else base), child.lineno, in_function
            yield from visit(child, inner)

    yield from visit(tree, False)


def check(root: Path) -> list[str]:
    """Every finding, one line each, as 'path:line: what is wrong'."""
    known = modules(root)
    problems: list[str] = []
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        where = path.relative_to(root)
        lines = len(path.read_text(encoding="utf-8").splitlines())
        limit = MAX_ENTRY_LINES if "." not in name and name not in PACKAGES else MAX_LINES
        if lines > limit:
            problems.append(f"{where}: {lines} lines (at most {limit}); split a helper module out")
        for target, line, in_function in imports(name, path, known):
            top = target.split(".")[0]
            if top in GRADIO and name.split(".")[0] in NO_GRADIO:
                problems.append(f"{where}:{line}: imports {target}; {name.split('.')[0]}/ never imports gradio")
            internal = next((m for m in (target, target.rpartition(".")[0]) if m in known), None)
            if internal is None or internal == name:
                continue
            graph[name].add(internal)
            if in_function:
                problems.append(f"{where}:{line}: imports {internal} inside a function; import it at the top")
            if rank(internal) > rank(name):
                up = f"{name} (layer {rank(name)}) imports {internal} (layer {rank(internal)})"
                problems.append(f"{where}:{line}: {up}")
            allowed = next((v for k, v in ALLOWED.items() if name == k or name.startswith(k + ".")), None)
            if allowed and not any(internal == a or internal.startswith(a + ".") for a in allowed):
                problems.append(f"{where}:{line}: {name} may only import {', '.join(allowed)}; it imports {internal}")
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return list(dict.fromkeys(problems))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append([*sorted(component), sorted(component)[0]])

    sys.setrecursionlimit(max(1000, 4 * len(graph)))
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def main(argv: list[str] | None = None) -> int:
    """Print the findings; exit 1 when there are any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args(argv)
    problems = check(args.root)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) in {len(modules(args.root))} modules")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
