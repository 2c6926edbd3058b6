"""Running lessons: each step through the ordinary machinery (`dlcli.sweep`, `dlcli.features`),
then the claim on the runs; `lessons()` lists the declarations.

A lesson's folder (default runs/lesson-NAME; with several lessons and `out`: OUT/NAME) is an
ordinary sweep folder, or for a pipeline one sweep folder per training step: running a lesson
again continues an interrupted run from its checkpoint and keeps the finished ones (a folder
holding other settings, e.g. another seed, is refused with the sweep's message).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlcli.course.catalog import LESSONS
from dlcli.course.declare import OUT, Features, Lesson, Run, Train
from dlcli.errors import InputError


@dataclass
class LessonList:
    """The lessons' declarations; `to_dict()` is `dlcli lesson list --json`."""

    lessons: list[Lesson]

    def to_dict(self) -> dict[str, Any]:
        return {
            "lessons": [
                {
                    "lesson": lesson.name,
                    "summary": lesson.summary,
                    "figure": str(default_out(lesson.name) / lesson.figure),
                }
                for lesson in self.lessons
            ]
        }


@dataclass
class LessonResult:
    """One lesson run: its claim with the numbers measured, whether it held, its runs."""

    lesson: str
    summary: str
    claim: str
    holds: bool
    figure: str
    out: str
    knobs: list[str]  # the knobs that vary (a pipeline: "step")
    runs: list[dict[str, Any]]  # each run's train document, with "knobs" and "out"

    def to_dict(self) -> dict[str, Any]:
        return {
            "lesson": self.lesson,
            "summary": self.summary,
            "claim": self.claim,
            "holds": self.holds,
            "figure": self.figure,
            "out": self.out,
            "runs": self.runs,
        }


@dataclass
class LessonsResult:
    """`dlcli.lesson(...)`'s result; `to_dict()` is `dlcli lesson run --json`."""

    lessons: list[LessonResult]

    @property
    def holds(self) -> bool:
        return all(lesson.holds for lesson in self.lessons)

    def to_dict(self) -> dict[str, Any]:
        return {"lessons": [lesson.to_dict() for lesson in self.lessons]}


def lessons() -> LessonList:
    """Every lesson's declaration, in the lesson's order."""
    return LessonList(list(LESSONS))


def default_out(name: str) -> Path:
    return Path("runs") / f"lesson-{name}"


def find(names: str | Sequence[str]) -> list[Lesson]:
    """The lessons named (in the order given, once each); 'all': every one. InputError naming
    the lessons there are for a name that is none of them."""
    by_name = {lesson.name: lesson for lesson in LESSONS}
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise InputError(f"name a lesson: {', '.join(by_name)} or all")
    found: list[Lesson] = []
    for name in names:
        if name == "all":
            found += LESSONS
        elif name in by_name:
            found.append(by_name[name])
        else:
            raise InputError(f"unknown lesson '{name}': choose from {', '.join(by_name)} or all")
    return list({lesson.name: lesson for lesson in found}.values())  # once each, first place


def lesson(
    names: str | Sequence[str] = "all",
    *,
    out: str | Path | None = None,
    seed: int | None = None,
    threads: int | None = None,
    callbacks: Sequence[Any] = (),
) -> LessonsResult:
    """Run lessons at full length (`names`: one name, several, or 'all') and check their claims.

    `out`: the lesson's folder (several lessons: OUT/NAME each; default runs/lesson-NAME).
    `seed` and `threads` apply to every run (None: the declarations' and the library's
    defaults). `callbacks` hear each run's progress as a sweep's do (`dlcli.sweep`), and those
    with `on_lesson_begin(index, total, name, logs)` hear about each lesson (`logs["summary"]`)."""
    from dlcli.training.sweep import plan_jobs

    chosen = find(names)
    folders = [_folder(one.name, out, len(chosen)) for one in chosen]
    for one, folder in zip(chosen, folders, strict=True):  # bad folders refused before training
        for step in one.plan():
            if isinstance(step, Train):
                model, data, where, knobs = _sweep_args(step, folder, seed, threads)
                plan_jobs(model, data, where, knobs)
    results = []
    for index, (one, folder) in enumerate(zip(chosen, folders, strict=True)):
        for cb in callbacks:
            if hasattr(cb, "on_lesson_begin"):
                cb.on_lesson_begin(index, len(chosen), one.name, {"summary": one.summary})
        results.append(run_lesson(one, folder, seed, threads, callbacks))
    return LessonsResult(results)


def _folder(name: str, out: str | Path | None, lessons: int) -> Path:
    """A lesson's folder: runs/lesson-NAME, `out` itself for one lesson, else OUT/NAME."""
    if out is None:
        return default_out(name)
    return Path(out) / name if lessons > 1 else Path(out)


def run_lesson(
    lesson: Lesson,
    folder: Path,
    seed: int | None,
    threads: int | None,
    callbacks: Sequence[Any],
) -> LessonResult:
    """Every step of one lesson into `folder`, then its claim (a failed run fails it)."""
    from dlcli.training.api import features

    documents: list[dict[str, Any]] = []
    runs: list[Run] = []
    pipeline = len(lesson.plan()) > 1
    for step in lesson.plan():
        if isinstance(step, Features):
            features(folder / step.run, data=step.data, split=step.split,
                     output=folder / step.output)  # fmt: skip
            continue
        for document in _train(step, folder, lesson.train_curves, seed, threads, callbacks):
            if pipeline:  # the table's column: which step trained it
                document = {**document, "knobs": {"step": step.folder, **document["knobs"]}}
            documents.append(document)
            runs.append(Run(document["knobs"], document, Path(document["out"]), step.folder))
    failed = [d for d in documents if "error" in d]
    if failed:
        holds, claim = False, f"run {failed[0]['out']} failed: {failed[0]['error']}"
    else:
        holds, claim = lesson.claim(runs)
    varying = ["step"] if pipeline else list(lesson.vary)
    figure = str(folder / lesson.figure)
    return LessonResult(
        lesson.name, lesson.summary, claim, holds, figure, str(folder), varying, documents
    )


def _sweep_args(
    step: Train, folder: Path, seed: int | None, threads: int | None
) -> tuple[str, str, Path, dict[str, Any]]:
    """(model, data, sweep folder, knobs) of a training step in the lesson's `folder`."""
    knobs = {**step.knobs, **{k: list(v) for k, v in step.vary.items()}}
    knobs |= {k: v for k, v in (("seed", seed), ("threads", threads)) if v is not None}
    data = step.data.replace(OUT, str(folder))
    return step.model, data, folder / step.folder if step.folder else folder, knobs


def _train(
    step: Train,
    folder: Path,
    train_curves: bool,
    seed: int | None,
    threads: int | None,
    callbacks: Sequence[Any],
) -> list[dict[str, Any]]:
    """One training step: `dlcli.sweep` into the lesson's folder (or its step's subfolder);
    each run's document with its knobs."""
    from dlcli.training.sweep import sweep

    model, data, where, knobs = _sweep_args(step, folder, seed, threads)
    result = sweep(model, data, out=where, callbacks=callbacks, train_curves=train_curves, **knobs)
    return result.runs
