"""The shape of training/engine/ and training/runs/: imports one way, the loop free of DDP.

- No module of either package imports (at its top, inside a function, or for type checking) a
  module that imports it back, directly or through others of the two packages.
- The loop and the ending of a run call `torch.distributed` nowhere: what DDP does is the run's
  `Strategy` (engine/strategy.py, engine/distributed.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGES = ("dlcli/training/engine", "dlcli/training/runs")


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    paths = [p for package in PACKAGES for p in sorted((ROOT / package).glob("*.py"))]
    names = {_module(p) for p in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        graph[_module(path)] = (imported & names) - {_module(path)}
    return graph


def test_engine_and_runs_import_one_way():
    graph = _graph()
    circles = []
    for start in graph:
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    circles.append(" -> ".join([*trail, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
    assert not circles, "\n".join(circles)


def test_the_loop_leaves_data_parallelism_to_the_strategy():
    for name in ("loop.py", "finish.py", "setup.py", "callbacks.py"):
        text = (ROOT / "dlcli/training/engine" / name).read_text()
        assert "torch.distributed" not in text and "dist." not in text, name
