"""Layering of the runtime package, read from the source with ``ast`` (nothing is imported).

* ``agent`` (the runtime) never imports ``training`` (training code and data-set builders), at module
  level, inside a function, or by a module name in a string (``importlib.import_module("training...")``).
* The modules of ``agent`` import each other without cycles at module level (imports inside functions
  and under ``if TYPE_CHECKING:`` run later or never, so they are left out of that graph).

Each check is also run on a small made-up package, so a test shows it does catch what it looks for.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Packages the runtime must not import.
FORBIDDEN = ("training",)
#: A module name in a forbidden package: ``training``, ``training.cli``, ``training.cli.train_app``.
_ANY_FORBIDDEN = "|".join(map(re.escape, FORBIDDEN))
_FORBIDDEN_NAME = re.compile(rf"^(?:{_ANY_FORBIDDEN})(?:[.:]|$)")
#: A string that names such a module (or an object in it, ``training.cli:train_app``).
_MODULE_STRING = re.compile(rf"^(?:{_ANY_FORBIDDEN})(?:\.\w+)*(?::[\w.]+)?$")
#: Calls that import the module their first argument names.
_IMPORTING_CALLS = frozenset({"import_module", "__import__", "run_module", "find_spec", "resolve_name"})


@dataclass(frozen=True)
class Import:
    """One import statement (or call) found in a module."""

    source: str  # the importing module
    line: int
    target: str  # the module imported (absolute), or for a call the string it names
    module_level: bool  # runs when the importing module is imported
    via_call: bool = False


def module_name(path: Path, root: Path) -> str:
    """Return the dotted module name of ``path`` relative to ``root`` (``agent/cli.py`` -> ``agent.cli``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules_of(package: str, root: Path) -> dict[str, Path]:
    """Return every module of ``package`` under ``root`` by dotted name."""
    return {module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve_relative(source: str, is_package: bool, level: int, module: str | None) -> str:
    base = source.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, module] if module else base)


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def iter_imports(path: Path, root: Path) -> Iterator[Import]:
    """Yield every import in ``path``: statements (marking module-level ones) and calls given a module string.

    Module level means run on import: not inside a function or lambda, not under ``if TYPE_CHECKING:``
    (class bodies, ``try`` and other ``if`` blocks do run).
    """
    source = module_name(path, root)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def visit(node: ast.AST, module_level: bool) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(source, node.lineno, alias.name, module_level)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(source, is_package, node.level, node.module) if node.level else node.module or ""
            for alias in node.names:
                # the name may be a submodule (``from agent import cli``) or an attribute of ``base``;
                # ``*`` stands for all of base's attributes
                yield Import(source, node.lineno, f"{base}.{alias.name}", module_level)
        elif isinstance(node, ast.Call) and node.args:
            # ``importlib.import_module("x")`` and the like, and any call given a dotted name in a forbidden
            # package (``_run_module_main("training.planner.train", ...)``)
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and (
                    _call_name(node.func) in _IMPORTING_CALLS
                    or (_MODULE_STRING.match(first.value) and any(c in first.value for c in ".:"))):
                yield Import(source, node.lineno, first.value.replace(":", "."), module_level, via_call=True)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from visit(child, False)
            for child in node.orelse:
                yield from visit(child, module_level)
            return
        inner = module_level and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            yield from visit(child, inner)

    yield from visit(tree, True)


def forbidden_imports(package: str, root: Path) -> list[str]:
    """Return ``file:line: what`` for every import of a forbidden package by a module of ``package``."""
    found = []
    for path in modules_of(package, root).values():
        for imp in iter_imports(path, root):
            if _FORBIDDEN_NAME.match(imp.target):
                how = f"names {imp.target!r} in a call" if imp.via_call else f"imports {imp.target}"
                found.append(f"{path.relative_to(root)}:{imp.line}: {how}")
    return found


def module_graph(package: str, root: Path, *, lazy: bool = False) -> dict[str, dict[str, int]]:
    """Return the module-level import graph of ``package``: module -> {imported module: line}.

    With ``lazy``, imports inside functions count too (module to module, without package edges):
    the layering graph, where a cycle means two modules depend on each other however late.

    An edge goes to the module a statement imports (``from a.b import c`` -> ``a.b.c`` when that is a
    module, else ``a.b``) and to the packages above it that must be initialised first, except the
    importer's own packages (those are already being imported when it runs).
    """
    mods = modules_of(package, root)
    graph: dict[str, dict[str, int]] = {name: {} for name in mods}
    for name, path in mods.items():
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        if path.name == "__init__.py":
            ancestors.add(name)
        for imp in iter_imports(path, root):
            if not imp.module_level and not lazy:
                continue
            target = imp.target
            while target and target not in mods:
                target = target.rpartition(".")[0]  # ``from a.b import attr`` needs a.b
            if not target or target == name:
                continue
            if lazy:
                if not (path.name == "__init__.py" and target.startswith(name + ".")) and target not in ancestors:
                    graph[name].setdefault(target, imp.line)
                continue
            if target in ancestors:
                # an own package is already in sys.modules (partly run); only its attributes need its body
                needs = [] if imp.target == target else [target]
            else:
                needs = [target]
            parts = target.split(".")
            needs += [p for p in (".".join(parts[:i]) for i in range(1, len(parts))) if p not in ancestors]
            for dep in needs:
                if dep != name:
                    graph[name].setdefault(dep, imp.line)
    return graph


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Return one cycle (``[a, b, ..., a]``) per strongly connected group of ``graph`` that has one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    cycles = []
    for group in groups:
        members, start = set(group), group[0]
        # the shortest way from start back to itself inside the group (breadth-first)
        prev: dict[str, str] = {}
        queue, last = [start], ""
        while queue and not last:
            v = queue.pop(0)
            for w in sorted(graph[v]):
                if w == start:
                    last = v
                    break
                if w in members and w not in prev:
                    prev[w] = v
                    queue.append(w)
        path = [last]
        while path[-1] != start:
            path.append(prev[path[-1]])
        cycles.append([*reversed(path), start])
    return cycles


def describe(cycle: list[str], graph: dict[str, dict[str, int]], package: str, root: Path) -> str:
    """Return ``a (a.py:3) -> b (b.py:7) -> a``: each module with the line of its import of the next."""
    mods = modules_of(package, root)
    steps = [f"{a} ({mods[a].relative_to(root)}:{graph[a][b]})" for a, b in zip(cycle, cycle[1:], strict=False)]
    return " -> ".join([*steps, cycle[-1]])


# ---------------------------------------------------------------------------------------------------
# the repository
# ---------------------------------------------------------------------------------------------------


def test_the_runtime_never_imports_training_code() -> None:
    found = forbidden_imports("agent", ROOT)
    assert not found, "agent/ must not import training code:\n" + "\n".join(found)


def test_the_runtime_has_no_module_level_import_cycles() -> None:
    graph = module_graph("agent", ROOT)
    assert len(graph) > 40 and graph["agent.cli"], "the graph missed the package"
    cycles = [describe(c, graph, "agent", ROOT) for c in find_cycles(graph)]
    assert not cycles, "module-level import cycles in agent/:\n" + "\n".join(cycles)


def test_the_runtime_layers_have_no_import_cycles_even_through_late_imports() -> None:
    graph = module_graph("agent", ROOT, lazy=True)
    cycles = [describe(c, graph, "agent", ROOT) for c in find_cycles(graph)]
    assert not cycles, "import cycles in agent/ (counting imports inside functions):\n" + "\n".join(cycles)


# ---------------------------------------------------------------------------------------------------
# the checks catch what they look for
# ---------------------------------------------------------------------------------------------------


def _package(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(("code", "what"), [
    ("import training.cli\n", "imports training.cli"),
    ("from training.planner import data\n", "imports training.planner.data"),
    ("def f():\n    from training import cli\n", "imports training.cli"),
    ("import importlib\n\ndef f():\n    importlib.import_module('training.planner.train')\n",
     "names 'training.planner.train' in a call"),
    ("def f():\n    _run_module_main('training.vision.train_encoder', [])\n",
     "names 'training.vision.train_encoder' in a call"),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from training.planner.data import PlannerSample\n",
     "imports training.planner.data.PlannerSample"),
])
def test_a_training_import_is_found_with_its_file_and_line(tmp_path: Path, code: str, what: str) -> None:
    root = _package(tmp_path, {"agent/__init__.py": "", "agent/ok.py": "import trainingwheels\nx = 'training'\n",
                               "agent/sub/bad.py": "\n" + code})
    found = forbidden_imports("agent", root)
    assert len(found) == 1 and found[0].startswith("agent/sub/bad.py:") and found[0].endswith(what), found
    assert int(found[0].split(":")[1]) >= 2


def test_a_module_level_cycle_is_found_and_function_level_imports_are_not(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "agent/__init__.py": "",
        "agent/a.py": "from agent.b import B\n",
        "agent/b.py": "import json\n\nclass B:\n    pass\n\nfrom agent import c  # noqa\n",
        "agent/c.py": "from typing import TYPE_CHECKING\nimport agent.a\n",
        "agent/d.py": "def f():\n    import agent.e\n",
        "agent/e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import agent.d\nimport agent.a\n",
    })
    graph = module_graph("agent", root)
    assert graph["agent.d"] == {} and graph["agent.e"] == {"agent.a": 4}
    cycles = find_cycles(graph)
    assert cycles == [["agent.a", "agent.b", "agent.c", "agent.a"]]
    assert describe(cycles[0], graph, "agent", root) == (
        "agent.a (agent/a.py:1) -> agent.b (agent/b.py:6) -> agent.c (agent/c.py:2) -> agent.a")


def test_a_package_init_importing_its_submodules_is_no_cycle_unless_they_need_its_body(tmp_path: Path) -> None:
    files = {
        "agent/__init__.py": "",
        "agent/pkg/__init__.py": "from agent.pkg.impl import Thing\nLIMIT = 3\n",
        "agent/pkg/impl.py": "import agent.pkg.helpers\nfrom agent.pkg import helpers\n\nclass Thing:\n    pass\n",
        "agent/pkg/helpers.py": "",
    }
    assert find_cycles(module_graph("agent", _package(tmp_path / "ok", files))) == []
    files["agent/pkg/helpers.py"] = "from agent.pkg import LIMIT\n"  # needs the package's body: a real cycle
    graph = module_graph("agent", _package(tmp_path / "bad", files))
    assert find_cycles(graph) == [["agent.pkg", "agent.pkg.impl", "agent.pkg.helpers", "agent.pkg"]]
