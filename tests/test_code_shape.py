"""House rules that keep dlcli readable (STYLE.md): checked, so that they hold as code grows.

- No function in dlcli/ runs over 60 lines of body (its signature and docstring aside) unless
  its docstring says why ("Long because ...").
- Every module opens with a docstring that says what it holds.
- No module runs over MAX_MODULE lines: a longer one holds more than one concern.
- No import cycles between dlcli's modules, whether the imports sit at module level or inside
  functions: a lazy import is still a dependency, and a cycle means two modules are one concern
  (or a third is missing).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dlcli"
MAX_BODY = 60
MAX_MODULE = 400


def _functions():
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield path, node


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    if ast.get_docstring(node) is not None:
        body = body[1:]
    if not body:
        return 0
    return node.end_lineno - body[0].lineno + 1  # type: ignore[operator]


def test_functions_are_short_or_say_why():
    long = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({_body_lines(node)} lines)"
        for path, node in _functions()
        if _body_lines(node) > MAX_BODY
        and "long because" not in (ast.get_docstring(node) or "").lower()
    ]
    assert not long, "split these, or say in the docstring why not:\n" + "\n".join(long)


def test_every_module_says_what_it_holds():
    missing = [
        str(path.relative_to(PACKAGE.parent))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.read_text().strip() and ast.get_docstring(ast.parse(path.read_text())) is None
    ]
    assert not missing, missing


def _module_name(path: Path) -> str:
    """dlcli/training/api.py -> dlcli.training.api; a package's __init__.py -> the package."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The dlcli modules that module `name` imports anywhere in its body (module level, in
    functions, under TYPE_CHECKING alike): `import a.b`, `from a import b` (b a submodule or a
    name of a), relative imports resolved against the module's package. The package whose
    `__init__` runs on the way to a submodule is not counted: a package that re-exports its
    submodules would otherwise be in a circle with each of them."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def add(module: str) -> None:
        # `import a.b.c` imports a, a.b and a.b.c; the cycle that matters is with the deepest one
        while module and module not in modules:
            module = module.rpartition(".")[0]
        if module and module != name:
            found.add(module)

    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "dlcli":
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "dlcli":
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                add(sub if sub in modules else module)
    return found


def import_graph() -> dict[str, set[str]]:
    """Each dlcli module -> the dlcli modules it imports (see `_imported`)."""
    modules = _modules()
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each as one cycle
    through it where one is easy to find, else its members; sorted, so that messages are stable."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
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
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(_one_cycle(c, graph) for c in components)


def _one_cycle(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the component's first module (breadth first), closed: [a, b, a]."""
    members, start = set(component), component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                return [*paths[v], start]
            if w not in paths:
                paths[w] = [*paths[v], w]
                queue.append(w)
    return component  # unreachable for a strongly connected component


def test_import_graph_sees_every_kind_of_import(tmp_path):
    """The checker itself: a cycle made by a function-level relative import, and one made by
    `from package import submodule`, are both found."""
    modules = {"dlcli.p": tmp_path / "__init__.py", "dlcli.p.a": tmp_path / "a.py",
               "dlcli.p.b": tmp_path / "b.py", "dlcli.p.c": tmp_path / "c.py"}  # fmt: skip
    modules["dlcli.p"].write_text("")
    modules["dlcli.p.a"].write_text("from dlcli.p import b\n")
    modules["dlcli.p.b"].write_text("def f():\n    from . import a\n    from .c import X\n")
    modules["dlcli.p.c"].write_text("import dlcli.p.a\n")
    graph = {name: _imported(name, path, modules) for name, path in modules.items()}
    assert graph["dlcli.p.b"] == {"dlcli.p.a", "dlcli.p.c"}
    assert import_cycles(graph) == [["dlcli.p.a", "dlcli.p.b", "dlcli.p.a"]]
    modules["dlcli.p.a"].write_text("x = 1\n")
    graph = {name: _imported(name, path, modules) for name, path in modules.items()}
    assert import_cycles(graph) == []


def test_no_import_cycles():
    cycles = import_cycles(import_graph())
    assert not cycles, (
        "import cycles in dlcli/ (module -> module it imports -> ...):\n"
        + "\n".join(" -> ".join(cycle) for cycle in cycles)
    )


def test_modules_are_short():
    lengths = {path: len(path.read_text().splitlines()) for path in sorted(PACKAGE.rglob("*.py"))}
    long = [
        f"{path.relative_to(PACKAGE.parent)} ({n} lines)"
        for path, n in lengths.items()
        if n > MAX_MODULE
    ]
    assert not long, f"split these modules (over {MAX_MODULE} lines):\n" + "\n".join(long)
