"""House rules that keep dlcli readable (STYLE.md): checked, so that they hold as code grows.

- No function in dlcli/ runs over 60 lines of body (its signature and docstring aside) unless
  its docstring says why ("Long because ...").
- Every module opens with a docstring that says what it holds.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dlcli"
MAX_BODY = 60


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
