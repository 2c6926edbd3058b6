"""Sweeps: the lesson's comparisons (3, 6, 20 hidden units; λ 0.001/0.01/0.1; ...) in one call.

    >>> import dlcli
    >>> s = dlcli.sweep("mlp", "spiral", hidden=[3, 6, 20], out="runs/n")  # doctest: +SKIP
    >>> [(r["knobs"], r["test_accuracy"]) for r in s.runs]               # doctest: +SKIP

Every knob of `dlcli.train` may be given as a list: the lists are swept, their Cartesian product
in the order given, `seed` last (so a combination's seeds are neighbours); a tuple is one value
(`hidden=(64, 32)` is two layers). `out` (default runs/sweep-MODEL-TIME) holds one ordinary run
folder per combination, named after the knobs that vary (`hidden=6,weight-decay=0.1,seed=1`),
then sweep.json (the result), sweep.csv (one row per run), curves.png (every run's validation
curves) and, for 2-D data, boundaries.png (every run's decision regions).

Calling it again with the same arguments continues an interrupted sweep: finished runs are kept,
an interrupted one resumes from its checkpoint, the rest start; a folder whose config is not
the requested one is an error naming it. `parallel=N` trains N runs at once in worker processes,
each with its share of the CPU threads.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlcli import interrupts
from dlcli.errors import DlcliError, InputError, RunFailure
from dlcli.files import atomic_write_bytes, check_output_folder, refuse_special
from dlcli.lock import LOCK_NAME, Lock
from dlcli.signatures import training_knobs, with_knobs
from dlcli.training import run_dir as rd
from dlcli.training.compare import (
    METRICS,
    SWEEP_BOUNDARIES,
    SWEEP_CURVES,
    SWEEP_JSON,
    flat_config,
    label,
    read_run,
    show,
    write_figures,
)
from dlcli.training.loop import Callback

SWEEP_CSV = "sweep.csv"
ORPHAN_GRACE_SECONDS = 10.0  # a worker whose parent died: time to save before it is killed


class SweepCallback(Callback):
    """A callback that also hears about runs: `on_run_begin` (serial sweeps; `logs["action"]`
    is 'train', 'resume' or 'keep') and `on_run_end` (`logs["result"]`: the run's document)."""

    def on_run_begin(self, index: int, total: int, name: str, logs: dict[str, Any]) -> None: ...
    def on_run_end(self, index: int, total: int, name: str, logs: dict[str, Any]) -> None: ...


@dataclass
class Job:
    """One combination: its folder, its knobs, and what to do with it."""

    index: int
    name: str
    knobs: dict[str, Any]  # everything passed to dlcli.train (None: the default)
    varying: dict[str, Any]  # the swept knobs, as config.json spells their values
    out: Path
    action: str = "train"  # 'train' | 'resume' | 'keep' | 'failed'


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


def _unique(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def combinations(knobs: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """(the swept names, one knob dict per combination); a list of one value is that value."""
    # a list inside a list is one value (hidden=[[3, 6], [20]]: two runs), as a tuple
    lists = {
        k: _unique([tuple(x) if isinstance(x, list) else x for x in v])
        for k, v in knobs.items()
        if isinstance(v, list)
    }
    names = [k for k, v in lists.items() if len(v) > 1 and k != "seed"]
    if len(lists.get("seed", [])) > 1:
        names.append("seed")
    base = {k: ((lists[k] or [None])[0] if k in lists else v) for k, v in knobs.items()}
    combos = [
        base | dict(zip(names, values, strict=True))
        for values in itertools.product(*(lists[k] for k in names))
    ]
    return names, combos


def _requested(model: str, knobs: dict[str, Any]) -> dict[str, Any]:
    """The config.json sections a combination will have (validates it: InputError early)."""
    from dlcli.training.api import split_knobs
    from dlcli.training.config import config_to_dict

    knobs = {("source" if k == "data" else k): v for k, v in knobs.items()}
    model_config, data, train = split_knobs(model, knobs)
    return {
        "model": model,
        "model_config": config_to_dict(model_config),
        "data": config_to_dict(data),
        "train": config_to_dict(train),
    }


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """config.json without what a sweep may change on a re-run (threads) or the data fills in."""
    knobs = flat_config(config)
    knobs.pop("threads", None)
    return knobs


def _state(job: Job, requested: dict[str, Any]) -> str:
    """What the folder of a combination needs: 'train', 'resume', 'keep' or 'failed'."""
    state = rd.run_state(job.out)
    if not (job.out / rd.CONFIG).exists():
        return "train"  # absent or empty; anything else there is refused by new_run_dir
    stored = rd.read_json(job.out / rd.CONFIG)
    want, have = _comparable(requested), _comparable(stored)
    diff = [k for k in want if json.dumps(want[k]) != json.dumps(have.get(k))]
    if diff:
        k = diff[0]
        raise InputError(
            f"sweep folder '{job.out}' holds a run whose {k} is {show(have.get(k))}, not the "
            f"requested {show(want[k])}; give another --out (or the command that made it)"
        )
    if state.state == rd.FINISHED:
        return "keep"
    return "failed" if state.status == "diverged" else "resume"


def folder_names(varying: list[dict[str, Any]]) -> list[str]:
    """Each combination's folder name, from its knobs (`hidden=6,seed=1`); names that would be
    the same (a '/' becomes '_': data=a/b.csv and data=a_b.csv) get a short hash of their knobs,
    so every run has a folder of its own, and the same one each time the command runs."""
    import hashlib

    names = [label(v).replace("/", "_") or "run" for v in varying]
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    for i, (name, knobs) in enumerate(zip(names, varying, strict=True)):
        if counts[name] > 1:
            digest = hashlib.sha256(json.dumps(knobs, sort_keys=True).encode()).hexdigest()[:8]
            names[i] = f"{name}-{digest}"
    if len(set(names)) != len(names):  # only equal knobs hash alike, and those were merged
        raise InputError("two runs of this sweep would share a folder; give distinct values")
    return names


def _threads(given: int | None, parallel: int) -> int | None:
    """Each of `parallel` runs' share of the cores (never more threads than cores in all)."""
    if parallel <= 1:
        return given
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    share = max(1, cores // parallel)
    return min(given, share) if given else share


def sweep(
    model: str = "mlp",
    data: str | list[str] | None = None,
    *,
    out: str | Path | None = None,
    callbacks: Sequence[Callback] = (),
    parallel: int = 1,
    animate: bool = False,
    **knobs: Any,
) -> SweepResult:
    """Train every combination of the knobs given as lists (see the module docstring)."""
    if parallel < 1:
        raise InputError(f"invalid --parallel {parallel}: expected at least 1")
    swept, combos = combinations({"data": data, **knobs})
    requested = [_requested(model, c) for c in combos]  # every bad value before any training
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"sweep-{model}-{stamp}"
    out = check_output_folder(out, "--out")  # UTF-8, a folder or nothing, not in a run folder
    if (out / rd.CONFIG).exists():
        raise InputError(f"--out '{out}' is a run folder; a sweep needs a folder of its own")
    jobs = []
    for i, (combo, want) in enumerate(zip(combos, requested, strict=True)):
        flat = flat_config(want)
        varying = {k: flat[k] for k in swept}
        jobs.append(Job(i, "", combo, varying, out))
    for job, name in zip(jobs, folder_names([j.varying for j in jobs]), strict=True):
        job.name, job.out = name, out / name
    for job, want in zip(jobs, requested, strict=True):
        job.action = _state(job, want)
    for name in (SWEEP_JSON, SWEEP_CSV, SWEEP_CURVES, SWEEP_BOUNDARIES):  # before any training
        refuse_special(out / name, "sweep file")
    rd.make_folder(out, "sweep folder")
    with Lock(out / LOCK_NAME, f"sweep folder '{out}'"):  # one sweep writes it at a time
        for job, want in zip(jobs, requested, strict=True):
            job.action = _state(job, want)  # again, under the lock
        return _sweep(model, out, swept, jobs, callbacks, parallel, animate)


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
) -> SweepResult:
    """Run the jobs that need it (the sweep folder's lock held), then write the summary."""
    results: dict[int, dict[str, Any]] = {}
    sweep_hooks = [cb for cb in callbacks if hasattr(cb, "on_run_begin")]
    run_callbacks = list(callbacks)
    total = len(jobs)
    for job in jobs:
        if job.action in ("keep", "failed"):
            results[job.index] = _kept(job)
    pending = [j for j in jobs if j.index not in results]
    try:
        if parallel > 1 and len(pending) > 1:
            _run_parallel(model, pending, results, parallel, animate, sweep_hooks, total)
        else:
            for job in jobs:
                for cb in sweep_hooks:
                    cb.on_run_begin(job.index, total, job.name, {"action": job.action})
                if job.index not in results:
                    results[job.index] = _run_job(model, job, animate, run_callbacks)
                for cb in sweep_hooks:
                    cb.on_run_end(job.index, total, job.name, {"result": results[job.index]})
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (a Terminated): the same type goes on
        done = sum(1 for r in results.values() if "error" not in r)
        raise type(exc)(
            f"sweep interrupted with {done} of {total} runs finished; the interrupted run's "
            f"checkpoint is saved: continue with the same command and --out {out}"
        ) from None

    runs = [results[j.index] | {"knobs": j.varying, "name": j.name} for j in jobs]
    result = SweepResult(str(out), model, swept, runs, _summary(runs, swept))
    _write_summary(out, result, jobs)
    return result


def _kept(job: Job) -> dict[str, Any]:
    run = read_run(job.out)
    if run.metrics is None:
        return {"out": str(job.out), "error": f"run '{job.out}' {run.status}"}
    return run.metrics


def _run_job(model: str, job: Job, animate: bool, callbacks: Sequence[Callback]) -> dict[str, Any]:
    """Train or resume one combination; a diverged run is a result (an error), not the end."""
    from dlcli.training import api

    try:
        if job.action == "resume":
            result = api.resume(job.out, callbacks=callbacks, animate=animate)
        else:
            knobs = dict(job.knobs)
            result = api.train(
                model, knobs.pop("data"), out=job.out, callbacks=callbacks, animate=animate, **knobs
            )
    except RunFailure as exc:
        return {"out": str(job.out), "error": str(exc)}
    return result.to_dict()


def _worker(model: str, job: Job, animate: bool) -> tuple[int, dict[str, Any] | None, Any]:
    """One run in a worker process: (index, its document, or an error to raise in the parent).
    Only while it runs does a signal raise (the run saves its checkpoint); between runs the
    worker waits in the pool's code, where a signal is recorded, and the next run does not
    start (`_worker_start`)."""
    interrupts.defer(False)
    try:
        interrupts.raise_if_received()
        return job.index, _run_job(model, job, animate, ()), None
    except DlcliError as exc:
        return job.index, None, (type(exc).__name__, str(exc))
    finally:
        interrupts.defer(True)


def _run_parallel(model, pending, results, parallel, animate, hooks, total) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    import dlcli.errors

    try:  # one fork server that has imported torch already: workers start in milliseconds
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["torch", "dlcli.training.api", "dlcli.training.loop"])
    except ValueError:  # no fork server on this platform
        context = multiprocessing.get_context("spawn")
    threads = _threads(pending[0].knobs.get("threads"), parallel)
    for job in pending:
        if job.action == "train":
            job.knobs = job.knobs | {"threads": threads}
    workers = min(parallel, len(pending))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_start)
    try:
        futures = {pool.submit(_worker, model, job, animate): job for job in pending}
        waiting = set(futures)
        while waiting:
            finished, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            for future in finished:
                index, document, error = future.result()
                job = futures[future]
                if error is not None:
                    raise getattr(dlcli.errors, error[0], RunFailure)(error[1])
                results[index] = document
                for cb in hooks:
                    cb.on_run_end(job.index, total, job.name, {"result": document})
    except BaseException as exc:
        # the workers are in a session of their own (no terminal signal reaches them): pass on
        # Ctrl-C or SIGTERM once, so that they save their checkpoints, and wait for them (after
        # an error, the other runs finish)
        if isinstance(exc, KeyboardInterrupt):
            terminated = interrupts.exit_status(exc) == interrupts.TERMINATED
            _signal_workers(pool, signal.SIGTERM if terminated else signal.SIGINT)
            interrupts.settle()  # a second signal must not cut the wait for their checkpoints
        pool.shutdown(wait=True, cancel_futures=True)
        _stop_helpers()
        raise
    pool.shutdown(wait=True)
    _stop_helpers()


def _stop_helpers() -> None:
    """From the command line, end the fork server and the resource tracker now and wait for
    them: they end by themselves when this process exits, but a moment after it (the fork
    server, half a second later), and nothing of a command may outlive it. A library caller's
    program keeps them (it may use them for its own work). Both are private to multiprocessing,
    hence the guard: where they differ, they end as before."""
    if not interrupts.installed():
        return
    from multiprocessing import forkserver, resource_tracker

    # the server first: it holds the tracker's pipe open too
    for helper in (getattr(forkserver, "_forkserver", None),
                   getattr(resource_tracker, "_resource_tracker", None)):  # fmt: skip
        with contextlib.suppress(Exception):
            helper._stop()  # type: ignore[union-attr]


def _signal_workers(pool: Any, signum: int) -> None:
    """Send `signum` to the pool's live worker processes."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        if proc.is_alive():
            with contextlib.suppress(OSError):
                os.kill(proc.pid, signum)


def _worker_start() -> None:
    """A sweep worker's first act: leave the terminal's process group (the parent forwards
    signals, once), take Ctrl-C and SIGTERM as the command line does (the run saves its
    checkpoint), and die with the parent: a thread waits on the pipe that the parent holds
    open while it lives (`multiprocessing.parent_process().sentinel`; the worker's own parent
    is the fork server) and, when it breaks, terminates this process as SIGTERM would, then
    kills it if the run has not ended within ORPHAN_GRACE_SECONDS."""
    import multiprocessing
    import threading

    with contextlib.suppress(OSError):
        os.setsid()
    interrupts.install()
    interrupts.defer(True)  # until `_worker` takes a run
    sentinel = multiprocessing.parent_process().sentinel  # type: ignore[union-attr]

    def watch() -> None:
        from multiprocessing.connection import wait

        # returns when the parent's end closes: the parent is gone (a pool that shuts down
        # closes it only after this worker has ended; a dead parent may linger as a zombie, so
        # no test of its PID would tell)
        wait([sentinel])
        if interrupts.deferred():  # between runs: nothing to save
            os._exit(interrupts.TERMINATED)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(ORPHAN_GRACE_SECONDS)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="dlcli-parent-watch", daemon=True).start()


def _summary(runs: list[dict[str, Any]], swept: list[str]) -> list[dict[str, Any]]:
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
        for metric in METRICS:
            values = [r[metric] for r in members if r.get(metric) is not None]
            row[metric] = statistics.fmean(values) if values else None
            row[f"{metric}_std"] = statistics.stdev(values) if len(values) > 1 else None
        rows.append(row)
    return rows


def _write_summary(out: Path, result: SweepResult, jobs: list[Job]) -> None:
    """sweep.json, sweep.csv (one row per run) and the pictures, each written atomically."""
    import csv
    import io

    document = json.dumps(result.to_dict(), indent=2) + "\n"
    atomic_write_bytes(out / SWEEP_JSON, document.encode())
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["run", *result.swept, *METRICS, "error"])
    for run in result.runs:
        writer.writerow(
            [
                run["name"],
                *(show(run["knobs"][k]) for k in result.swept),
                *("" if run.get(m) is None else run[m] for m in METRICS),
                run.get("error", ""),
            ]
        )
    atomic_write_bytes(out / SWEEP_CSV, buf.getvalue().encode())
    finished = [(read_run(j.out), j.name) for j in jobs if (j.out / rd.CONFIG).exists()]
    write_figures(finished, out / SWEEP_CURVES, out / SWEEP_BOUNDARIES)
