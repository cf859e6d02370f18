"""The layout's rules, read from the source with `ast` (nothing is imported or run).

- no import cycles among lib/ and ui/ modules (module-level and in-function imports alike);
- no lib/ or ui/ module imported inside a function (the way a cycle used to be hidden);
- lib/ never imports streamlit;
- keras/tensorflow only in the packages that train or run models;
- pages/, ui/ and everything outside lib/train never import the worker package lib.train,
  except its own entry point.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("lib", "ui")
TF_ALLOWED = (  # where a model is built, trained, loaded or run (always imported lazily but here)
    "lib.train.", "lib.models", "lib.model_files", "lib.inference.", "lib.runs.export", "lib.data.custom",
    "lib.data.datasets", "lib.teach.", "lib.sweeps.", "ui.cached",
)  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def python_files(*folders: str) -> list[Path]:
    files = [p for folder in folders for p in sorted((ROOT / folder).rglob("*.py"))]
    return files + ([ROOT / "app.py"] if "pages" in folders else [])


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, inside a function?) for every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                found.append((child.module, in_function))
                # `from lib.data import custom` imports the module lib.data.custom
                found.extend((f"{child.module}.{alias.name}", in_function) for alias in child.names)
            visit(child, nested)

    visit(tree, False)
    return found


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in python_files(*OURS)}
    edges = {}
    for name, path in files.items():
        edges[name] = {target for target, _ in imports(path) if target in files and target != name}
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def walk(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state and (cycle := walk(node)):
            return cycle
    return None


def test_no_import_cycles_in_lib_or_ui():
    assert find_cycle(graph()) is None, " -> ".join(find_cycle(graph()))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("folder", ["lib", "ui", "pages"])
def test_no_project_module_is_imported_inside_a_function(folder):
    hidden = [
        f"{module_name(p)} imports {target}"
        for p in python_files(folder)
        for target, in_function in imports(p)
        if in_function and target.split(".")[0] in OURS
    ]
    assert not hidden


def test_lib_never_imports_streamlit():
    offenders = [module_name(p) for p in python_files("lib") if any(t.startswith("streamlit") for t, _ in imports(p))]
    assert not offenders


def test_tensorflow_only_where_models_are_built_or_run():
    offenders = []
    for p in python_files("lib", "ui", "pages"):
        name = module_name(p)
        uses_tf = any(t.split(".")[0] in ("keras", "tensorflow") for t, _ in imports(p))
        if uses_tf and not any(name == a.rstrip(".") or name.startswith(a) for a in TF_ALLOWED):
            offenders.append(name)
    assert not offenders


def test_only_the_worker_entry_point_imports_the_worker_package():
    offenders = [
        module_name(p)
        for p in python_files("lib", "ui", "pages")
        if not module_name(p).startswith("lib.train")
        and any(t == "lib.train" or t.startswith("lib.train.") for t, _ in imports(p))
    ]
    assert not offenders
