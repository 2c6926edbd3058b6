"""dlcli: deep-learning basics from the shell.

The package root stays import-light on purpose: the calculators (`featsize`, `receptive-field`)
are used in tight shell loops, so nothing here may pull in torch, numpy or gensim. The library
functions are imported on first use (PEP 562 module `__getattr__`).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# name -> module that defines it, imported when the name is first used
_LAZY = {
    "word2vec": "dlcli.wordvec.api",
    "load_vectors": "dlcli.wordvec.api",
    "similar": "dlcli.wordvec.api",
    "analogy": "dlcli.wordvec.api",
    "evaluate_vectors": "dlcli.wordvec.api",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dlcli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
