"""Signals and child processes: the `--nproc` launcher and `--parallel` sweep workers.

Real processes and real signals throughout. Every wait is for an event (a progress line, a
file, a process gone) with a generous bound, never a sleep that hopes something has happened.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dlcli.lock import LOCK_NAME, Lock
from dlcli.training.engine import launcher
from dlcli.training.runs import state as rs
from tests.conftest import ROOT, assert_input_error

LINUX = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
NPROC = ["train", "mlp", "--nproc", "2", "--threads", "1"]


def _start(*args, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dlcli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "DLCLI_DIST_TIMEOUT": "60", **(env or {})},
        start_new_session=True,  # its own group, as a shell job: signals reach what we say
    )


def _until_epoch(proc: subprocess.Popen, epoch: int) -> list[str]:
    """Read stderr until rank 0's progress line of `epoch` (the lines read so far)."""
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith(f"epoch {epoch}/"):
            return seen
    raise AssertionError("".join(seen))


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("dlcli: error")]


def _clean(stderr: str) -> None:
    for noise in ("Traceback", "FAILED", "ChildFailedError", "terminate called", "W1", "E1"):
        assert noise not in stderr, stderr


def _children(pid: int) -> dict[int, int]:
    """pid -> parent pid of every process on the machine (Linux's /proc)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            table[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return table


def _descendants(pid: int) -> set[int]:
    table, found, frontier = _children(pid), set(), {pid}
    while frontier:
        frontier = {p for p, parent in table.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":  # a zombie has ended; only its parent's wait is missing
            alive.add(pid)
    return alive


def _until_gone(pids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)  # polling for an event, bounded: the assertion says what is left
    return _alive(pids)


# --- the launcher: signals, one line, the status a plain run gives -----------------------------


@LINUX
def test_sigterm_to_the_launcher_reaches_the_ranks_saves_and_exits_143(tmp_path):
    out = tmp_path / "run"
    proc = _start(*NPROC, "--epochs", "100000", "--out", out)
    _until_epoch(proc, 2)
    ranks = _descendants(proc.pid)
    os.kill(proc.pid, signal.SIGTERM)  # the launcher's PID alone, as `kill PID` does
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 143, stderr
    errors = _errors(stderr)
    assert len(errors) == 1 and errors[0].startswith("dlcli: error: terminated (SIGTERM) after")
    assert f"--resume {out}" in errors[0] and stdout == ""
    _clean(stderr)
    assert rs.run_state(out).state == rs.RESUMABLE
    assert json.loads((out / "config.json").read_text())["status"] == "interrupted"
    assert not _alive(ranks)


@LINUX
def test_a_rank_0_killed_is_one_line_naming_it_with_a_killed_status(tmp_path):
    out = tmp_path / "run"
    proc = _start(*NPROC, "--epochs", "100000", "--out", out)
    _until_epoch(proc, 2)
    rank0 = _rank_pid(proc.pid, 0)
    os.kill(rank0, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 128 + signal.SIGKILL, stderr  # as a shell reports a killed run
    errors = _errors(stderr)
    assert errors == ["dlcli: error: rank 0 of 2 was killed by SIGKILL"], stderr
    _clean(stderr)


def _rank_pid(launcher_pid: int, rank: int) -> int:
    for pid in _descendants(launcher_pid):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ and b"LOCAL_RANK=" + str(rank).encode() in environ:
            return pid
    raise AssertionError(f"no rank {rank} under {launcher_pid}")


def test_an_input_error_of_the_ranks_exits_2_in_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "dlcli", *NPROC, "--hidden", "100000,100000", "--out", tmp_path],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    errors = _errors(proc.stderr)
    assert len(errors) == 1 and "choose smaller layers" in errors[0], proc.stderr
    _clean(proc.stderr)
    plain = subprocess.run(  # the same line as one process gives
        [sys.executable, "-m", "dlcli", "train", "mlp", "--hidden", "100000,100000"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert (plain.returncode, _errors(plain.stderr)) == (2, errors)


def test_input_errors_are_found_before_the_ranks_start(invoke, tmp_path):
    result = invoke(*NPROC, "--data", str(tmp_path / "missing.csv"))
    assert_input_error(result, "missing.csv", "not found")
    folder = tmp_path / "held"
    folder.mkdir()
    lock = Lock(folder / LOCK_NAME, "run folder").acquire()
    try:
        assert_input_error(invoke(*NPROC, "--out", str(folder)), "in use by process")
        assert_input_error(invoke(*NPROC, "--resume", str(folder)), "in use by process")
    finally:
        lock.release()


@LINUX
def test_torchrun_failing_to_start_is_one_line(tmp_path):
    # too few file descriptors for torchrun's rendezvous: its 45-line DistStoreError before
    command = " ".join([sys.executable, "-m", "dlcli", *NPROC, "--out", str(tmp_path / "r")])
    proc = subprocess.run(
        ["bash", "-c", f"ulimit -n 16; exec {command}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    errors = _errors(proc.stderr)
    assert len(errors) == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


ABORTING_RANK = textwrap.dedent(
    """
    import os
    import torch.distributed as dist
    dist.init_process_group("gloo")
    dist.barrier()
    if dist.get_rank() == 1:
        os.abort()  # SIGABRT, as a C++ terminate at shutdown
    """
)


@LINUX
def test_torchruns_report_of_an_aborted_rank_becomes_one_line(tmp_path):
    """The parser of torchrun's report, on a real report: rank 1 aborts, rank 0 is ended."""
    script = tmp_path / "abort.py"
    script.write_text(ABORTING_RANK)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
        + [str(script)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    output = launcher._Output()
    passed = [line for line in proc.stderr.splitlines(True) if output.take(line, False)]
    assert "".join(passed).strip() == "", passed  # torchrun's noise, all held back
    assert (1, -signal.SIGABRT) in output.failures()
    outcome = launcher.verdict(output, proc.returncode, None, 2)
    assert str(outcome) == "rank 1 of 2 was killed by SIGABRT"
    assert outcome.exit_code == 128 + signal.SIGABRT


GLOO_THREADS_AFTER_TEARDOWN = textwrap.dedent(
    """
    import os, sys
    import dlcli
    from dlcli.training.engine import distributed
    dlcli.train("mlp", epochs=1, threads=1, out=sys.argv[1])  # ends with teardown(sync=True)
    tasks = os.listdir("/proc/self/task")
    names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in tasks]
    # one write of the whole line: torchrun runs `python -u`, where print's pieces are separate
    # writes that the two ranks interleave on the shared pipe ("10 True ..." and " True ...")
    line = f"{os.environ['RANK']} {distributed._joined} {' '.join(sorted(names))}\\n"
    os.write(1, line.encode())
    distributed.leave(0)
    """
)


@LINUX
def test_gloo_threads_outlive_the_process_group_so_ranks_leave_by_os_exit(tmp_path):
    """Why `distributed.leave` ends a rank with os._exit: after `destroy_process_group`, DDP
    still holds the ProcessGroupGloo, whose threads run on (if a PyTorch release frees it, this
    fails, and a normal exit may do again)."""
    script = tmp_path / "threads.py"
    script.write_text(GLOO_THREADS_AFTER_TEARDOWN)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
        + [str(script), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    lines = sorted(line for line in proc.stdout.splitlines() if line[:1] in "01")
    assert [line.split()[:2] for line in lines] == [["0", "True"], ["1", "True"]], proc.stdout
    assert all("pt_gloo_runloop" in line and "gloo_tcp_loop" in line for line in lines)


def test_the_lost_rank_message_is_cut_at_a_word():
    from dlcli.training.engine.distributed import lost_failure

    words = " ".join(f"word{i}" for i in range(60))
    message = str(lost_failure(RuntimeError(f"[gloo/pair.cc:1] {words}"), "runs/r"))
    inside = message[message.index("(") + 1 : message.index(")")]
    assert inside.endswith(" ...") and inside[:-4].split()[-1] in words.split()
    assert message.endswith("continue with --resume runs/r")


# --- sweep workers ------------------------------------------------------------------------------


SWEEP = ["train", "mlp", "--data", "spiral", "--hidden", "3", "--hidden", "6", "--parallel", "2"]
SWEEP += ["--epochs", "100000", "--threads", "1"]


def _until_runs_train(out: Path, proc: subprocess.Popen) -> None:
    """Both runs have written a checkpoint: both workers are training."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(out.glob("*/checkpoint*.safetensors"))) >= 2:
            return
        time.sleep(0.1)
    raise AssertionError(f"exit {proc.poll()}: {list(out.rglob('*'))}")


@LINUX
def test_a_killed_sweep_parent_takes_its_workers_and_fork_server_along(tmp_path):
    out = tmp_path / "sweep"
    proc = _start(*SWEEP, "--out", out, "-q")
    _until_runs_train(out, proc)
    children = _descendants(proc.pid)  # fork server, resource tracker, two workers
    assert len(children) >= 3, children
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)  # (not communicate: its pipes stay open while a child holds them)
    try:
        assert _until_gone(children, 60) == set()
    finally:
        for pid in _alive(children):  # a failed test leaves nothing running either
            os.kill(pid, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
@LINUX
def test_a_signalled_sweep_parent_saves_its_workers_runs_and_leaves_nothing(tmp_path, sig, status):
    out = tmp_path / "sweep"
    proc = _start(*SWEEP, "--out", out, "-q")
    _until_runs_train(out, proc)
    children = _descendants(proc.pid)
    os.killpg(proc.pid, sig)  # the shell job's group: the parent alone is in it
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == status, stderr
    assert len(_errors(stderr)) == 1 and "Traceback" not in stderr, stderr
    assert _alive(children) == set()  # nothing outlives the parent
    states = {rs.run_state(run).state for run in out.iterdir() if run.is_dir()}
    assert states == {rs.RESUMABLE}
