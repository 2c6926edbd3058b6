"""dlcli: deep-learning basics from the shell, and the same from Python.

    >>> import dlcli
    >>> dlcli.featsize(32, 5).output
    (28,)
    >>> dlcli.receptive_field(arch="vgg16").receptive_field
    (212, 212)

Every command of the CLI is a function here, with the same defaults (the library owns them;
the CLI reads them), returning a result whose `.to_dict()` is the command's `--json` document:
`featsize`, `receptive_field`, `inspect_model` (featsize --model), `model_receptive_fields`
(receptive-field --model), `train`, `resume`, `sweep`, `compare`, `evaluate`, `predict`,
`features`, `export`, `lesson`, `lessons`, `word2vec`, `load_vectors`, `similar`, `analogy`,
`evaluate_vectors`, and for the standard datasets `list_datasets`, `fetch`, `dataset_path`.
`load_model(run)` returns a trained run's model as a plain `nn.Module` that takes raw inputs
and returns class probabilities.

The package root stays import-light on purpose: the calculators are used in tight shell loops,
so the names above are resolved lazily (PEP 562) and `import dlcli` imports no torch, numpy or
gensim; each function imports what it needs when called.

`model_receptive_fields(model_or_ref, "3x224x224")` is `receptive-field --model`: fields of any
nn.Module, through its branches.
"""

from __future__ import annotations

import importlib
from typing import Any

from dlcli.errors import DlcliError, InputError, RunFailure

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use)
_LAZY = {
    "featsize": "dlcli.calculators.featsize",
    "receptive_field": "dlcli.calculators.receptive_field",
    "inspect_model": "dlcli.training.refs",
    "train": "dlcli.training.api",
    "resume": "dlcli.training.api",
    "evaluate": "dlcli.training.api",
    "predict": "dlcli.training.api",
    "features": "dlcli.training.api",
    "Callback": "dlcli.training.api",
    "sweep": "dlcli.training.sweep",
    "compare": "dlcli.training.compare",
    "lesson": "dlcli.course",
    "lessons": "dlcli.course",
    "load_model": "dlcli.training.export",
    "export": "dlcli.training.export",
    "word2vec": "dlcli.wordvec.api",
    "load_vectors": "dlcli.wordvec.api",
    "similar": "dlcli.wordvec.api",
    "analogy": "dlcli.wordvec.api",
    "evaluate_vectors": "dlcli.wordvec.api",
    "list_datasets": "dlcli.datasets.api",
    "fetch": "dlcli.datasets.api",
    "dataset_path": "dlcli.datasets.api",
    "model_receptive_fields": "dlcli.modelfield",
}

__all__ = ["DlcliError", "InputError", "RunFailure", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dlcli' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
