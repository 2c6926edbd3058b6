"""`dlcli train ... --nproc N`: the same command under torchrun, with one line and one status.

    launch(2, ["train", "mlp", "--epochs", "5"])   # python -m torch.distributed.run --standalone
                                                  #   --nproc-per-node 2 -m dlcli train mlp ...

What the launcher adds to torchrun:

- Signals. torchrun runs in a session of its own, so the terminal's Ctrl-C reaches the launcher
  alone; SIGINT or SIGTERM sent to the launcher is forwarded once to torchrun, which sends the
  same signal to every rank and waits for them (up to 30 s). Every rank saves as for Ctrl-C
  (rank 0 writes the checkpoint) and the launcher ends with rank 0's line and 130 (SIGINT) or
  143 (SIGTERM), as a plain run does. A second signal while they save is not forwarded again.
- One line. Ranks print their progress and `dlcli:` lines to stderr; under torchrun a rank's
  error line reads `dlcli: error: [rank R] ...`. Everything torchrun adds (its banner, its log
  lines, its traceback and "FAILED" report, a C++ abort note) is held back; from its report the
  launcher learns which rank failed first and how (its exit status or signal). It then raises one
  error: the failed rank's own line, or "rank R of N was killed by SIGKILL" with rank 0's word on
  the checkpoint, or torchrun's own exception when no rank ever ran; and the status a plain run
  would give (2 for an input error, 1 for a failure, 128 + the signal for a rank killed by one).
  `DLCLI_DEBUG=1` passes everything through.
- Input errors are found before the ranks start where the launcher can see them: a `--data`
  path that does not exist, a run folder (`--out`, `--resume`) that another process holds.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlcli import interrupts
from dlcli.errors import InputError, RunFailure

RANK_TAG = re.compile(r"^dlcli: error: \[rank (\d+)\] ")
# torchrun's banner and log lines (W1127 17:16:50.204000 ...), a C++ abort note, the start of a
# traceback (what follows it is held back with it)
_NOISE = re.compile(r"\*{5}|[WEI]\d{4} \d\d:\d\d:|terminate called|Fatal Python error")
_REPORT_RANK = re.compile(r"^\s*rank\s*:\s*(\d+)")
_REPORT_EXIT = re.compile(r"^\s*exitcode\s*:\s*(-?\d+)")
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Failure|Interrupt)): (.+)")
SAVED = "the checkpoint is saved"  # how rank 0's lost-rank line names the checkpoint


class RankFailure(RunFailure):
    """A rank of an `--nproc` run failed: its line, with the status a plain run would give."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class _Output:
    """torchrun's stderr, sorted: rank error lines (by rank) and what torchrun said."""

    errors: dict[int, str] = field(default_factory=dict)  # rank -> its first error message
    held: list[str] = field(default_factory=list)  # torchrun's lines, held back
    in_traceback: bool = False

    def take(self, line: str, debug: bool) -> str | None:
        """The line to pass through now (None: hold it back)."""
        if line.startswith("dlcli: error: "):
            tagged = RANK_TAG.match(line)
            rank = int(tagged.group(1)) if tagged else 0
            message = line[tagged.end() if tagged else len("dlcli: error: ") :].rstrip("\n")
            self.errors.setdefault(rank, message)
            return line if debug else None
        if line.startswith("Traceback (most recent call last)"):
            self.in_traceback = True
        if debug:
            return line
        if self.in_traceback or _NOISE.match(line) or "OMP_NUM_THREADS" in line:
            self.held.append(line)
            return None
        return line

    def failures(self) -> list[tuple[int, int]]:
        """(rank, exit code) of each failure in torchrun's report: the first observed first."""
        found, rank = [], None
        root = next((i for i, s in enumerate(self.held) if s.startswith("Root Cause")), None)
        lines = self.held[root:] + self.held[:root] if root is not None else self.held
        for line in lines:
            if (m := _REPORT_RANK.match(line)) is not None:
                rank = int(m.group(1))
            elif (m := _REPORT_EXIT.match(line)) is not None and rank is not None:
                if (rank, int(m.group(1))) not in found:
                    found.append((rank, int(m.group(1))))
                rank = None
        return found

    def exception(self) -> str | None:
        """torchrun's own exception (the last `Name: message` line it printed), if any."""
        lines = [m for s in self.held if (m := _EXCEPTION.match(s.strip())) is not None]
        useful = [m for m in lines if not m.group(1).endswith("ChildFailedError")]
        if not useful:
            return None
        name, message = useful[-1].groups()
        return f"{name.rsplit('.', 1)[-1]}: {message.strip()}"


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def verdict(output: _Output, code: int, received: int | None, nproc: int) -> BaseException | None:
    """What ends the launcher: None (success), the signal's interrupt, or a RankFailure."""
    if code == 0:  # a signal after the ranks had their result changes nothing
        return None
    if received is not None:
        kind = interrupts.Terminated if received == signal.SIGTERM else KeyboardInterrupt
        return kind(output.errors.get(0) or interrupts.message(kind()))
    failures = output.failures()
    status_of = dict(reversed(failures))  # the first failure of each rank
    # a rank killed by a signal (not torchrun's SIGTERM) is the cause: the others' ends (a lost
    # peer, torchrun's SIGTERM) follow from it
    killed = [(r, c) for r, c in failures if c < 0 and -c != signal.SIGTERM]
    if killed and killed[0][0] not in output.errors:
        rank, status = killed[0]
        saved = [e for e in output.errors.values() if SAVED in e]
        tail = "; " + saved[0][saved[0].index(SAVED) :] if saved else ""
        return RankFailure(
            f"rank {rank} of {nproc} was killed by {signal_name(-status)}{tail}", 128 - status
        )
    if killed or output.errors:  # the rank that said why: the killed one, else rank 0 first
        rank = killed[0][0] if killed else min(output.errors)
        status = status_of.get(rank, code)
        status = 128 - status if status < 0 else status
        line = output.errors[rank]
        return RankFailure(line if rank == 0 else f"rank {rank} of {nproc}: {line}", status)
    if failures:
        rank, status = failures[0]
        how = f"was killed by {signal_name(-status)}" if status < 0 else f"exited with {status}"
        return RankFailure(f"rank {rank} of {nproc} {how}", 128 - status if status < 0 else status)
    cause = output.exception() or f"exit status {code}"
    return RunFailure(f"torchrun failed before the ranks could start: {cause}")


def check_inputs(knobs: dict[str, Any], resume: Path | None) -> None:
    """Input errors the ranks would report, found before they start (exit 2)."""
    from dlcli.lock import LOCK_NAME
    from dlcli.training.data import input_kind
    from dlcli.training.runs.state import lock_run_dir

    def given(name: str) -> list[Any]:
        value = knobs.get(name)
        return [v for v in (value if isinstance(value, list) else [value]) if v is not None]

    for source in given("data"):
        if input_kind(str(source)) == "missing":
            raise InputError(
                f"data '{source}' not found: expected a dataset's name, a .csv or .npz file, "
                "or an image folder"
            )
    for folder in [*given("out"), *([resume] if resume is not None else [])]:
        if (Path(folder) / LOCK_NAME).exists():
            lock_run_dir(Path(folder)).release()  # InputError naming the holder


def launch(nproc: int, args: list[str]) -> None:
    """Run `dlcli ARGS` under torchrun with `nproc` ranks on this machine; returns on success,
    else raises what the module docstring says. Long because it owns the child, its signals and
    its output, which must be let go of together."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", str(nproc), "-m", "dlcli", *args]
    debug = bool(os.environ.get("DLCLI_DEBUG"))
    child = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, bufsize=1, start_new_session=True
    )
    assert child.stderr is not None
    received: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        if not received:  # once: the ranks are saving after the first
            received.append(signum)
            if child.poll() is None:
                child.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    output = _Output()
    try:
        for line in child.stderr:
            shown = output.take(line, debug)
            if shown is not None:
                sys.stderr.write(shown)
        code = child.wait()
    finally:
        if child.poll() is None:  # an error of ours: no rank may outlive the launcher
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    outcome = verdict(output, code, received[0] if received else None, nproc)
    if outcome is not None:
        raise outcome
