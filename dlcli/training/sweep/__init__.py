"""Sweeps: the lesson's comparisons (3, 6, 20 hidden units; λ 0.001/0.01/0.1; ...) in one call.

    >>> import dlcli
    >>> s = dlcli.sweep("mlp", "spiral", hidden=[3, 6, 20], out="runs/n")  # doctest: +SKIP
    >>> [(r["knobs"], r["test_accuracy"]) for r in s.runs]               # doctest: +SKIP

Every knob of `dlcli.train` may be given as a list: the lists are swept, their Cartesian product
in the order given, `seed` last (so a combination's seeds are neighbours); a tuple is one value
(`hidden=(64, 32)` is two layers). `out` (default runs/sweep-MODEL-TIME) holds one ordinary run
folder per combination, named after the knobs that vary (`hidden=6,weight-decay=0.1,seed=1`),
then sweep.json (the result), sweep.csv (one row per run), curves.png (every run's validation
curves; with `train_curves=True` the training ones too, dashed) and, for 2-D data,
boundaries.png (every run's decision regions).

Calling it again with the same arguments continues an interrupted sweep: finished runs are kept,
an interrupted one resumes from its checkpoint, the rest start; a folder whose config is not
the requested one is an error naming it. `parallel=N` trains N runs at once in worker processes,
each with its share of the CPU threads.

    plan.py   the rules: which knobs are swept, their combinations, folder names, the options a
              sweep cannot take (pure Python; the CLI and `dlcli.train` read them)
    jobs.py   one combination: what its folder needs, and training or resuming it
    pool.py   `parallel=N`: the runs in worker processes
    here      `sweep(...)`, its result, sweep.json / sweep.csv / the pictures

A callback given to `sweep` that has `on_run_begin(index, total, name, logs)` (serial sweeps;
`logs["action"]`: 'train', 'resume' or 'keep') or `on_run_end(index, total, name, logs)`
(`logs["result"]`: the run's document) hears about runs too.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from dlcli.errors import InputError
from dlcli.files import atomic_write_bytes, refuse_special
from dlcli.lock import LOCK_NAME, Lock
from dlcli.outputs import check_output_folder
from dlcli.signatures import training_knobs, with_knobs
from dlcli.training.compare import (
    METRICS,
    SWEEP_BOUNDARIES,
    SWEEP_CURVES,
    SWEEP_JSON,
    flat_config,
    metrics_for,
    read_run,
    show,
    write_figures,
)
from dlcli.training.engine.callbacks import Callback
from dlcli.training.runs import files as rd
from dlcli.training.runs import state as rs
from dlcli.training.sweep.jobs import job_state, kept, requested, run_job
from dlcli.training.sweep.plan import (
    Job,
    RunHooks,
    check_sweep,
    combinations,
    folder_names,
    is_sweep,
    one_run,
    sweep_knobs,
)
from dlcli.training.sweep.pool import run_parallel

__all__ = [
    "SWEEP_CSV",
    "SweepResult",
    "check_sweep",
    "combinations",
    "folder_names",
    "is_sweep",
    "one_run",
    "plan_jobs",
    "sweep",
    "sweep_knobs",
]

SWEEP_CSV = "sweep.csv"


@dataclass
class SweepResult:
    """Every run's result with its knobs, and per combination the mean (and std over seeds)."""

    out: str
    model: str
    swept: list[str]
    runs: list[dict[str, Any]]
    summary: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": self.out,
            "model": self.model,
            "swept": self.swept,
            "runs": self.runs,
            "summary": self.summary,
        }


def sweep(
    model: str = "mlp",
    data: str | list[str] | None = None,
    *,
    out: str | Path | None = None,
    callbacks: Sequence[Callback] = (),
    parallel: int = 1,
    animate: bool = False,
    train_curves: bool = False,
    **knobs: Any,
) -> SweepResult:
    """Train every combination of the knobs given as lists (see the module docstring);
    `train_curves`: curves.png shows each run's training curves too, dashed."""
    if parallel < 1:
        raise InputError(f"invalid --parallel {parallel}: expected at least 1")
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"sweep-{model}-{stamp}"
    out, swept, jobs, wanted = plan_jobs(model, data, out, knobs)
    rs.make_folder(out, "sweep folder")
    with Lock(out / LOCK_NAME, f"sweep folder '{out}'"):  # one sweep writes it at a time
        for job, want in zip(jobs, wanted, strict=True):
            job.action = job_state(job, want)  # again, under the lock
        return _sweep(model, out, swept, jobs, callbacks, parallel, animate, train_curves)


def plan_jobs(
    model: str, data: Any, out: str | Path, knobs: dict[str, Any]
) -> tuple[Path, list[str], list[Job], list[dict[str, Any]]]:
    """A sweep's folder, swept knobs, jobs (each with what its folder needs) and their configs:
    every bad value, and a folder holding other settings, an InputError before any training
    (`dlcli.lesson` checks all of its lessons' sweeps with it before running the first)."""
    swept, combos = combinations({"data": data, **knobs})
    wanted = [requested(model, c) for c in combos]
    out = check_output_folder(out, "--out")  # UTF-8, a folder or nothing, not in a run folder
    if (out / rd.CONFIG).exists():
        raise InputError(f"--out '{out}' is a run folder; a sweep needs a folder of its own")
    jobs = []
    for i, (combo, want) in enumerate(zip(combos, wanted, strict=True)):
        flat = flat_config(want)
        varying = {k: flat[k] for k in swept}
        jobs.append(Job(i, "", combo, varying, out))
    for job, name in zip(jobs, folder_names([j.varying for j in jobs]), strict=True):
        job.name, job.out = name, out / name
    for job, want in zip(jobs, wanted, strict=True):
        job.action = job_state(job, want)
    for name in (SWEEP_JSON, SWEEP_CSV, SWEEP_CURVES, SWEEP_BOUNDARIES):
        refuse_special(out / name, "sweep file")
    return out, swept, jobs, wanted


with_knobs(
    sweep,
    training_knobs(),
    "Knobs (those of `dlcli.train`; a list is swept, anything else is one value for every run; "
    "left out or None: the library's default):",
    sweepable=True,
)


def _sweep(
    model: str,
    out: Path,
    swept: list[str],
    jobs: list[Job],
    callbacks: Sequence[Callback],
    parallel: int,
    animate: bool,
    train_curves: bool = False,
) -> SweepResult:
    """Run the jobs that need it (the sweep folder's lock held), then write the summary."""
    results: dict[int, dict[str, Any]] = {}
    sweep_hooks = [cast(RunHooks, cb) for cb in callbacks if hasattr(cb, "on_run_begin")]
    run_callbacks = list(callbacks)
    total = len(jobs)
    for job in jobs:
        if job.action in ("keep", "failed"):
            results[job.index] = kept(job)
    pending = [j for j in jobs if j.index not in results]
    try:
        if parallel > 1 and len(pending) > 1:
            run_parallel(model, pending, results, parallel, animate, sweep_hooks, total)
        else:
            for job in jobs:
                for cb in sweep_hooks:
                    cb.on_run_begin(job.index, total, job.name, {"action": job.action})
                if job.index not in results:
                    results[job.index] = run_job(model, job, animate, run_callbacks)
                for cb in sweep_hooks:
                    cb.on_run_end(job.index, total, job.name, {"result": results[job.index]})
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (a Terminated): the same type goes on
        done = sum(1 for r in results.values() if "error" not in r)
        raise type(exc)(
            f"sweep interrupted with {done} of {total} runs finished; the interrupted run's "
            f"checkpoint is saved: continue with the same command and --out {out}"
        ) from None

    runs = [results[j.index] | {"knobs": j.varying, "name": j.name} for j in jobs]
    names = metrics_for(runs)  # a classification's metrics, or a regression's
    result = SweepResult(str(out), model, swept, runs, _summary(runs, swept, names))
    _write_summary(out, result, jobs, names, train_curves)
    return result


def _summary(
    runs: list[dict[str, Any]], swept: list[str], names: tuple[str, ...] = METRICS
) -> list[dict[str, Any]]:
    """One row per combination of the non-seed knobs: the mean of each metric over its seeds,
    and the (sample) standard deviation where there are several."""
    groups: dict[str, list[dict[str, Any]]] = {}
    knobs_of: dict[str, dict[str, Any]] = {}
    for run in runs:
        knobs = {k: v for k, v in run["knobs"].items() if k != "seed"}
        key = json.dumps(knobs)
        groups.setdefault(key, []).append(run)
        knobs_of[key] = knobs
    rows = []
    for key, members in groups.items():
        row: dict[str, Any] = {"knobs": knobs_of[key], "runs": len(members)}
        row["failed"] = sum(1 for r in members if "error" in r)
        for metric in names:
            values = [r[metric] for r in members if r.get(metric) is not None]
            row[metric] = statistics.fmean(values) if values else None
            row[f"{metric}_std"] = statistics.stdev(values) if len(values) > 1 else None
        rows.append(row)
    return rows


def _write_summary(
    out: Path,
    result: SweepResult,
    jobs: list[Job],
    names: tuple[str, ...] = METRICS,
    train: bool = False,
) -> None:
    """sweep.json, sweep.csv (one row per run) and the pictures, each written atomically."""
    import csv
    import io

    document = json.dumps(result.to_dict(), indent=2) + "\n"
    atomic_write_bytes(out / SWEEP_JSON, document.encode())
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["run", *result.swept, *names, "error"])
    for run in result.runs:
        writer.writerow(
            [
                run["name"],
                *(show(run["knobs"][k]) for k in result.swept),
                *("" if run.get(m) is None else run[m] for m in names),
                run.get("error", ""),
            ]
        )
    atomic_write_bytes(out / SWEEP_CSV, buf.getvalue().encode())
    finished = [(read_run(j.out), j.name) for j in jobs if (j.out / rd.CONFIG).exists()]
    write_figures(finished, out / SWEEP_CURVES, out / SWEEP_BOUNDARIES, train)
