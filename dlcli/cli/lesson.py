"""`dlcli lesson list|run`: the lesson's comparisons, run at full length, their claims checked
(thin commands over `dlcli.lessons` / `dlcli.lesson`)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from dlcli.cli.common import make_app, print_json
from dlcli.cli.options import JsonOpt
from dlcli.training.engine.callbacks import Callback

lesson_app = make_app(
    help="The lesson's comparisons, each run at full length with its claim checked on the "
    "numbers it measured.",
)


@lesson_app.command("list")
def list_(json_out: JsonOpt = False) -> None:
    """Every lesson: its name and what it shows, one a line (--json: with each figure's path).

    \b
    Examples:
      dlcli lesson list
      dlcli lesson list --json
    """
    import dlcli

    result = dlcli.lessons()
    if json_out:
        print_json(result.to_dict())
        return
    width = max(len(lesson.name) for lesson in result.lessons)
    for lesson in result.lessons:
        print(f"{lesson.name:<{width}}  {lesson.summary}")


class LessonLines(Callback):
    """A line on stderr as each lesson starts (its runs' lines are a sweep's)."""

    def on_lesson_begin(self, index: int, total: int, name: str, logs: dict[str, Any]) -> None:
        line = f"lesson {index + 1}/{total}: {name}: {logs['summary']}"
        print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        """Nothing of its own to give back."""


@lesson_app.command("run")
def run(
    names: Annotated[
        list[str],
        typer.Argument(
            metavar="NAME...",
            help="Lessons to run (see 'dlcli lesson list'), or all.",
            show_default=False,
        ),
    ],
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            metavar="DIR",
            help="The lesson's folder; with several lessons, DIR/NAME each. Default: "
            "runs/lesson-NAME. The same command continues an interrupted lesson and keeps "
            "its finished runs.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Seed of every run (default: train's).", show_default=False),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads", help="CPU threads per run (default: train's).", show_default=False
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Run lessons at full length as ordinary sweeps, then print each one's comparison table,
    the path of its figure and its claim with the numbers measured, and whether it held.

    Exit status: 0 when every claim held, 1 when some claim failed (after printing every
    lesson; the failing ones are named on stderr), 2 for an unknown lesson.

    \b
    Examples:
      dlcli lesson run neurons
      dlcli lesson run dropout init --out runs/two
      dlcli lesson run all --json > lessons.json
    """
    import dlcli
    from dlcli.cli.train.progress import RunLines, progress
    from dlcli.errors import RunFailure

    epochs = progress(sys.stderr.isatty())
    callbacks: list[Any] = [LessonLines(), RunLines(epochs, False), epochs]
    try:
        result = dlcli.lesson(names, out=out, seed=seed, threads=threads, callbacks=callbacks)
    finally:
        for callback in callbacks:
            callback.close()
    if json_out:
        print_json(result.to_dict())
    else:
        for one in result.lessons:
            _render(one)
    failed = [one.lesson for one in result.lessons if not one.holds]
    if failed:
        raise RunFailure(f"the claim of lesson {', '.join(failed)} did not hold (see above)")


def _render(one: Any) -> None:
    """One lesson: its runs as `compare` shows them, the figure, the claim."""
    from dlcli.cli.compare import render_rows

    rows = [{**run, "status": "failed" if "error" in run else "done"} for run in one.runs]
    render_rows(f"lesson {one.lesson}: {one.summary}", one.knobs, rows)
    print(f"figure: {one.figure}")
    print(f"claim {'holds' if one.holds else 'FAILS'}: {one.claim}")
    print()
