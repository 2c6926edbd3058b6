"""`parallel=N`: a sweep's runs in N worker processes (a fork server that has imported torch),
each with its share of the CPU threads; Ctrl-C and SIGTERM are passed on once so that every
worker saves its checkpoint, and a worker dies with its parent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Sequence
from multiprocessing.context import BaseContext
from typing import Any

from dlcli import interrupts
from dlcli.errors import DlcliError, RunFailure
from dlcli.training.sweep.jobs import run_job
from dlcli.training.sweep.plan import Job, RunHooks

ORPHAN_GRACE_SECONDS = 10.0  # a worker whose parent died: time to save before it is killed


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


def _worker(model: str, job: Job, animate: bool) -> tuple[int, dict[str, Any] | None, Any]:
    """One run in a worker process: (index, its document, or an error to raise in the parent).
    Only while it runs does a signal raise (the run saves its checkpoint); between runs the
    worker waits in the pool's code, where a signal is recorded, and the next run does not
    start (`_worker_start`)."""
    interrupts.defer(False)
    try:
        interrupts.raise_if_received()
        return job.index, run_job(model, job, animate, ()), None
    except DlcliError as exc:
        return job.index, None, (type(exc).__name__, str(exc))
    finally:
        interrupts.defer(True)


def run_parallel(
    model: str,
    pending: list[Job],
    results: dict[int, dict[str, Any]],
    parallel: int,
    animate: bool,
    hooks: Sequence[RunHooks],
    total: int,
) -> None:
    """Train the pending jobs, `parallel` at a time, into `results` (index -> document); each
    finished run goes to the hooks' `on_run_end` as it comes in."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    import dlcli.errors

    context: BaseContext
    try:  # one fork server that has imported torch already: workers start in milliseconds
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(
            ["torch", "dlcli.training.api", "dlcli.training.engine.setup"]
        )
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
                if document is None:  # a worker sends its document or its error
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
