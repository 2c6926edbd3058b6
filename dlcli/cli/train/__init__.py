"""`dlcli train FAMILY`: the command group, one subcommand per registered model family.

The subcommands are generated from the registry `dlcli.training.families.FAMILIES` (read when
the app is built, so a family registered at run time gets its subcommand): the help text above
the options is the family's `help` plus a paragraph on sweeps made of its `sweep_example`; the
options are generated from the config dataclasses (`options.py`: the family's own config, then
DataConfig, then TrainConfig), so a new knob is one config field and nothing else.
Options default to None here, meaning "not given": the library fills in its defaults, and
`--resume` can tell which flags were typed. Every option but the on/off flags may be repeated:
a repeated flag is swept (`--hidden 3 --hidden 6 --hidden 20`: three runs; several repeated flags:
their Cartesian product) through `dlcli.sweep`. The command calls `dlcli.train`, `dlcli.resume`
or `dlcli.sweep` and renders the result. Nothing heavy is imported at module level.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import typer

from dlcli.cli.common import fail, make_app, print_json, warn
from dlcli.cli.train.options import parameters
from dlcli.training.families import FAMILIES, Family


def sweep_doc(family: Family) -> str:
    """The help's paragraph on sweeps, its example made of the family's own knob
    (its `sweep_example`: `--hidden` for mlp, `--depth` for resnet, ...)."""
    name, values = family.sweep_example
    flag = "--" + name.replace("_", "-")
    example = f"dlcli train {family.name} {family.example_prefix}".rstrip() + " "
    example += " ".join(f"{flag} {v}" for v in values)
    return f"""
    Repeat a flag to sweep it; several repeated flags train their Cartesian product, a repeated
    --seed repeats each combination, flags given once apply to every run:

    \b
      {example}   # {len(values)} runs

    --out then holds one run folder per combination, named after the knobs that vary, plus
    sweep.json, sweep.csv, curves.png and (2-D data) boundaries.png; the same command continues
    an interrupted sweep.
    """


def run(model: str, knobs: dict[str, Any]) -> None:
    """Train (or resume) with the CLI's progress callbacks, then render the result; a repeated
    flag makes it a sweep (`sweep`)."""
    import dlcli
    from dlcli.cli.data import download_progress
    from dlcli.cli.train.progress import progress, render_result

    resume, json_out, quiet = knobs.pop("resume"), knobs.pop("json_out"), knobs.pop("quiet")
    parallel, animate = knobs.pop("parallel"), knobs.pop("animate")
    nproc, tensorboard = knobs.pop("nproc"), knobs.pop("tensorboard")
    if nproc != 1:
        return _launch(nproc, knobs, resume)  # the same command under torchrun (no --nproc)
    from dlcli.training.sweep.plan import check_sweep, is_sweep, one_run

    if is_sweep(knobs):
        from dlcli.training.engine.distributed import launched

        check_sweep(resume, launched(), tensorboard, parallel)
        return sweep(model, knobs, parallel, animate, json_out, quiet, tensorboard)
    knobs = one_run(knobs)
    if resume is not None:
        _check_resume(model, resume, knobs)
    out = knobs.pop("out")
    callbacks = [] if quiet else [progress(sys.stderr.isatty())]  # (rank 0 alone calls them)
    try:
        # a standard dataset's first use downloads it; an image folder is decoded
        with download_progress(quiet):
            if resume is not None:
                result = dlcli.resume(
                    resume,
                    epochs=knobs["epochs"],
                    callbacks=callbacks,
                    animate=animate,
                    tensorboard=tensorboard,
                )
            else:
                result = dlcli.train(
                    model,
                    knobs.pop("data"),
                    out=out,
                    callbacks=callbacks,
                    animate=animate,
                    tensorboard=tensorboard,
                    **knobs,
                )
    finally:  # a terminal progress bar must give the screen back, whatever happened
        for callback in callbacks:
            callback.close()
    from dlcli.training.engine.distributed import is_main

    if not is_main():  # under torchrun rank 0 alone prints the result
        return
    if json_out:
        print_json(result.to_dict())
    elif quiet:
        print(result.out)
    else:
        render_result(result.to_dict())


def _launch(nproc: int, knobs: dict[str, Any], resume: Any) -> None:
    """`--nproc N`: this same command line, minus --nproc, under torchrun with N ranks (its
    failures raised as one error: `dlcli.training.engine.launcher`)."""
    from dlcli.training.engine.distributed import launched
    from dlcli.training.engine.launcher import check_inputs, launch

    if nproc < 1:
        fail(f"invalid --nproc {nproc}: expected at least 1")
    if launched():
        fail("--nproc starts torchrun itself: leave it out when running under torchrun")
    check_inputs(knobs, resume)
    args, skip = [], False
    for arg in sys.argv[1:]:
        if skip or arg == "--nproc" or arg.startswith("--nproc="):
            skip = arg == "--nproc"
            continue
        args.append(arg)
    launch(nproc, args)


def sweep(
    model: str,
    knobs: dict[str, Any],
    parallel: int,
    animate: bool,
    json_out: bool,
    quiet: bool,
    tensorboard: bool = False,
) -> None:
    """A sweep: `dlcli.sweep` with a line per run (and each run's progress), then one table."""
    import dlcli
    from dlcli.cli.compare import plural, render_rows
    from dlcli.cli.train.progress import RunLines, progress
    from dlcli.training.sweep.plan import sweep_knobs

    out = knobs.pop("out")
    patience = knobs.get("patience")
    patience = any(patience) if isinstance(patience, list) else patience
    knobs = sweep_knobs(knobs)
    callbacks: list[Any] = []
    if not quiet:
        epoch_progress = progress(sys.stderr.isatty())
        callbacks = [RunLines(epoch_progress, parallel > 1), epoch_progress]
    if tensorboard:  # one writer, reopened in each run's folder (its on_train_begin)
        from dlcli.training.engine.tensorboard import TensorBoard

        callbacks.append(TensorBoard())
    try:
        result = dlcli.sweep(
            model,
            knobs.pop("data"),
            out=out,
            callbacks=callbacks,
            parallel=parallel,
            animate=animate,
            **knobs,
        )
    finally:
        for callback in callbacks:
            callback.close()
    document = result.to_dict()
    if json_out:
        print_json(document)
    elif quiet:
        print(result.out)
    else:
        swept = [k for k in result.swept if k != "seed"]
        title = f"{plural(len(result.runs), 'run')} of {model}; sweep folder {result.out}"
        render_rows(title, swept, document["summary"], patience=bool(patience))
    failed = [r for r in result.runs if "error" in r]
    for run in failed:
        warn(f"run {run['name']} failed: {run['error']}")


def _check_resume(model: str, resume: str, knobs: dict[str, Any]) -> None:
    """--resume continues with the run's own settings: flags it would ignore are errors."""
    from pathlib import Path

    from dlcli.training.runs.spec import read_spec

    spec, _ = read_spec(Path(resume))
    if spec.model != model:
        fail(
            f"--resume {resume} is a '{spec.model}' run; "
            f"continue it with 'dlcli train {spec.model}'"
        )
    ignored = [k for k, v in knobs.items() if v is not None and k != "epochs"]
    if ignored:
        flags = ", ".join("--" + k.replace("_", "-") for k in ignored)
        fail(
            "--resume continues a run with its saved settings (only --epochs, --json and -q "
            f"apply); leave out {flags}"
        )


def _command(model: str) -> Any:
    def command(**knobs: Any) -> None:
        run(model, knobs)

    params = parameters(model)
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = FAMILIES[model].help + sweep_doc(FAMILIES[model])
    command.__name__ = model
    return command


def build_train_app() -> typer.Typer:
    """The `train` group with one subcommand per family registered now."""
    app = make_app(help="Train a model on bundled data or your own files; writes a run folder.")
    for name in FAMILIES:
        app.command(name)(_command(name))
    return app


def __getattr__(name: str) -> Any:
    if name == "train_app":  # what dlcli.cli.app's COMMANDS name: built from the registry
        return build_train_app()
    raise AttributeError(name)
