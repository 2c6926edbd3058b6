"""The command registry: it only wires the commands together (like huggingface_hub's hf.py).

Each command lives in its own module under dlcli/cli/ and is imported only when it is needed:
`dlcli featsize ...` builds an app holding featsize alone, so the calculators' start-up does not
grow with every command the toolkit gains. No command module imports torch, numpy or gensim at
module level, and this module imports only the standard library at its top: `main` installs the
Ctrl-C / SIGTERM handling (`dlcli.interrupts`) before anything else is imported, so that a
signal at any moment, start-up included, ends in one line and exit status 130 / 143.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

from dlcli import __version__

if TYPE_CHECKING:
    import typer

HELP = (
    "Deep-learning basics from the shell: feature-map sizes, receptive fields, "
    "training and word vectors."
)

# name -> (module, attribute, "command" | "group", summary), in the order `dlcli --help` lists
# them. The summary is the command's line in `dlcli --help`: one sentence that fits 80 columns
# beside the longest name (Click would cut a docstring's first sentence with "..."). Root help
# reads it from here, so `dlcli --help` imports no command module (tests/cli/test_startup.py).
COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "featsize": (
        "dlcli.cli.featsize",
        "featsize",
        "command",
        "Output size of a layer, a chain or a standard network.",
    ),
    "receptive-field": (
        "dlcli.cli.receptive_field",
        "receptive_field",
        "command",
        "Receptive field, effective stride and padding of a chain.",
    ),
    "train": ("dlcli.cli.train", "train_app", "group", "Train a model; writes a run folder."),
    "evaluate": (
        "dlcli.cli.evaluate",
        "evaluate",
        "command",
        "Accuracy, loss and confusion matrix of a trained run.",
    ),
    "predict": (
        "dlcli.cli.evaluate",
        "predict",
        "command",
        "Predicted class and probability for each input.",
    ),
    "features": (
        "dlcli.cli.features",
        "features",
        "command",
        "Penultimate-layer features of inputs or data, as .npy/.npz.",
    ),
    "compare": (
        "dlcli.cli.compare",
        "compare",
        "command",
        "Compare runs: the knobs that differ, then the metrics.",
    ),
    "lesson": (
        "dlcli.cli.lesson",
        "lesson_app",
        "group",
        "Run the lesson's comparisons and check their claims.",
    ),
    "export": (
        "dlcli.cli.export",
        "export",
        "command",
        "A run's model as an ONNX, TorchScript or pt2 file.",
    ),
    "word2vec": (
        "dlcli.cli.word2vec",
        "word2vec_app",
        "group",
        "Word vectors: train, query and evaluate (gensim).",
    ),
    "data": (
        "dlcli.cli.data",
        "data_app",
        "group",
        "The standard datasets: list, download, show the cache.",
    ),
    "completion": (
        "dlcli.cli.completion",
        "completion",
        "command",
        "Print the shell completion script for dlcli.",
    ),
    "help": (
        "dlcli.cli.help",
        "help_command",
        "command",
        "A command's help; all of it as Markdown.",
    ),
}


def _version(value: bool) -> None:
    import typer

    if value:
        print(f"dlcli {__version__}")
        raise typer.Exit()


def _root_callback() -> Any:
    import typer

    def _root(
        version: bool = typer.Option(  # not Annotated: typer is not a module-level name here
            False,
            "--version",
            "-V",
            callback=_version,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ) -> None:
        """Deep-learning basics from the shell: sizes, receptive fields, training, word vectors."""

    return _root


def _root_group() -> type:
    from dlcli.cli.common import DlcliGroup

    class RootGroup(DlcliGroup):
        """`dlcli --help` lists commands in COMMANDS' order (Typer puts groups after commands)."""

        def list_commands(self, ctx: Any) -> list[str]:
            return [name for name in COMMANDS if name in self.commands]

    return RootGroup


def build_app(only: str | None = None, listing: bool = False) -> typer.Typer:
    """The dlcli app with every command, or with command `only` alone. With `listing`, the
    commands are names and summaries only (no module imported): for root help and --version,
    whose start-up must not pay for training's or word2vec's modules."""
    from dlcli.cli.common import make_app

    app = make_app(cls=_root_group(), help=HELP)
    app.callback()(_root_callback())
    for name, (module, attribute, kind, summary) in COMMANDS.items():
        if only not in (None, name, "help"):  # `dlcli help` documents every command
            continue
        if listing:
            app.command(name, help=summary, short_help=summary)(_listed_only(name))
            continue
        target = getattr(importlib.import_module(module), attribute)
        if kind == "group":
            app.add_typer(target, name=name, short_help=summary)
        else:
            app.command(name, no_args_is_help=True, short_help=summary)(target)
    return app


def _listed_only(name: str) -> Any:
    """A command of the listing-only app: its name and summary. `main` builds that app only when
    no argument names a command, so Click never runs one; were it run, it runs the real one."""

    def run() -> None:
        build_app(only=name)()

    return run


def __getattr__(name: str) -> typer.Typer:
    if name == "app":  # `from dlcli.cli.app import app`: the full app (tests, docs)
        return build_app()
    raise AttributeError(name)


def main() -> None:
    """Console-script entry point: signals first (see the module docstring), then the app."""
    from dlcli import interrupts

    interrupts.install()
    try:
        _main()
    except SystemExit:
        raise
    except BaseException as exc:  # a signal before the app's error boundary exists, or after it
        interrupts.settle()
        if not isinstance(exc, KeyboardInterrupt) and not interrupts.received:
            raise
        with contextlib.suppress(Exception):
            sys.stderr.write(f"dlcli: error: {interrupts.message(exc)}\n")
            sys.stderr.flush()
        sys.exit(interrupts.exit_status(exc))


def _main() -> None:
    if "_DLCLI_COMPLETE" in os.environ:  # a shell asks for completions (dlcli completion SHELL)
        from typer._completion_classes import completion_init

        completion_init()  # Typer's completion classes (its scripts speak their protocol)
        build_app()(prog_name="dlcli", complete_var="_DLCLI_COMPLETE")
        return
    first = sys.argv[1] if len(sys.argv) > 1 else None
    if first in COMMANDS:
        build_app(only=first)()
    else:  # root help, --version, a mistyped command: the listing serves unless one is named
        build_app(listing=not any(arg in COMMANDS for arg in sys.argv[1:]))()
