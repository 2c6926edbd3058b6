"""Data-parallel training: 2 CPU ranks on gloo under torchrun, against one process as oracle.

With dropout off and plain SGD, one epoch on 2 ranks must give the one-process weights to float
tolerance: the proof that the shares and the gradient averaging are right. --batch-size 63 makes
the shares unequal (32 + 31) and the last batch short (1259 = 19 * 63 + 62).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import dlcli
from dlcli.training.engine.strategy import shares_of

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
EXACT = {  # dropout is off in the cnn by default
    "optimizer": "sgd",
    "lr": 0.05,
    "momentum": 0.9,
    "batch_size": 63,
    "threads": 1,
    "seed": 4,
}


def _flags(knobs: dict) -> list[str]:
    return [a for k, v in knobs.items() for a in ("--" + k.replace("_", "-"), str(v))]


def _weights(run: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(run / "model.safetensors")


def _close(a: Path, b: Path, tol: float) -> float:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    worst = max(float((wa[k] - wb[k]).abs().max()) for k in wa)
    assert worst < tol, worst
    return worst


def _rows(run: Path) -> list[dict]:
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def _torchrun(*args, env=None, **kw) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "DLCLI_DIST_TIMEOUT": "60", **(env or {})}
    return subprocess.run(
        [*TORCHRUN, "-m", "dlcli", *map(str, args)],
        capture_output=True, text=True, env=full_env, timeout=300, **kw,
    )  # fmt: skip


@pytest.mark.parametrize(("n", "batch", "world"), [(10, 4, 2), (9, 4, 2), (9, 4, 3), (5, 4, 3)])
def test_shares_count_every_example_once_and_weights_average_to_the_batch_mean(n, batch, world):
    import torch

    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    per_rank = [shares_of(order, batch, r, world) for r in range(world)]
    batches = -(-n // batch)
    counted = []
    for rows, shares in per_rank:
        assert len(shares) == batches  # every rank steps as often as one process would
        for b, share in enumerate(shares):
            part = rows[share.start : share.stop].tolist()
            size = min(batch, n - b * batch)
            assert set(part) <= set(order[b * batch : b * batch + size].tolist())
            if share.count:
                counted += part
    assert sorted(counted) == list(range(n))
    for b in range(batches):  # DDP averages weight * mean(share) over ranks
        size = min(batch, n - b * batch)
        coefficient: dict[int, float] = {}  # of each example's gradient in the average
        for rows, shares in per_rank:
            share = shares[b]
            for row in rows[share.start : share.stop].tolist():
                part = share.stop - share.start
                coefficient[row] = coefficient.get(row, 0.0) + share.weight / part / world
        assert coefficient == pytest.approx(dict.fromkeys(coefficient, 1 / size))  # batch mean
        assert len(coefficient) == size


def test_two_ranks_match_one_process_and_resume_on_one(tmp_path):
    ddp, one, straight = (tmp_path / name for name in ("ddp", "one", "straight"))
    args = ("train", "cnn", "--epochs", "1", *_flags(EXACT), "--log-grads", "--json")
    result = _torchrun(*args, "--out", ddp)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)  # one JSON document, from rank 0 alone
    assert doc["out"] == str(ddp) and doc["epochs"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp"]  # one folder
    assert json.loads((ddp / "config.json").read_text())["status"] == "done"
    single = dlcli.train("cnn", epochs=1, out=one, log_grads=True, **EXACT)
    _close(ddp, one, 1e-5)  # the same step, computed in two halves
    # --log-grads: the all-reduced gradients are the whole batch's, as in one process
    rows = [_rows(run)[0] for run in (ddp, one)]
    grads = [k for k in rows[1] if k.startswith("grad_norm/")]
    assert grads and [k for k in rows[0] if k.startswith("grad_norm/")] == grads
    for key in grads:
        assert float(rows[0][key]) == pytest.approx(float(rows[1][key]), rel=1e-4)
    assert abs(doc["test_accuracy"] - single.test_accuracy) <= 0.02
    # a run started on 2 ranks continues in one process (any number of ranks)
    dlcli.resume(ddp, epochs=2)
    dlcli.train("cnn", epochs=2, out=straight, **EXACT)
    _close(ddp, straight, 1e-4)


def test_nproc_launches_torchrun_and_ctrl_c_leaves_a_resumable_run(tmp_path):
    out = tmp_path / "run"
    args = ["train", "mlp", "--nproc", "2", "--epochs", "400", "--threads", "1", "--out", out]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlcli", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    _until_epoch(proc, 2)  # rank 0 has finished epochs: a checkpoint is due
    os.killpg(proc.pid, signal.SIGINT)  # the terminal's Ctrl-C: the launcher forwards it
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("dlcli: error")]
    assert len(errors) == 1 and "--resume" in errors[0], stderr
    assert "Traceback" not in stderr and stdout == ""
    assert json.loads((out / "config.json").read_text())["status"] == "interrupted"
    finished = len((out / "history.csv").read_text().splitlines()) - 1
    resumed = dlcli.resume(out, epochs=finished + 1)  # a plain process continues it
    assert resumed.epochs == finished + 1 and (out / "model.safetensors").exists()


def _until_epoch(proc: subprocess.Popen, epoch: int) -> None:
    """Read the launcher's stderr up to rank 0's progress line of `epoch` (an event, not a
    guess at how long start-up takes)."""
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith(f"epoch {epoch}/"):
            return
    raise AssertionError("".join(seen))


def _rank_one(out: Path) -> int | None:
    """The pid of rank 1 of the run writing `out` (its environment says RANK=1)."""
    for proc in Path("/proc").iterdir():
        try:
            if str(out) in (proc / "cmdline").read_text() and "\0RANK=1\0" in (
                "\0" + (proc / "environ").read_text()
            ):
                return int(proc.name)
        except (OSError, ValueError):
            continue
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux's /proc")
def test_a_dead_rank_ends_the_run_with_one_line_and_a_resumable_folder(tmp_path):
    out = tmp_path / "run"
    args = ["train", "mlp", "--nproc", "2", "--epochs", "400", "--threads", "1", "--out", out]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlcli", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _until_epoch(proc, 2)
    pid = _rank_one(out)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGKILL, stderr  # what a shell says of a killed run
    errors = [line for line in stderr.splitlines() if line.startswith("dlcli: error")]
    assert len(errors) == 1 and f"--resume {out}" in errors[0], stderr
    assert errors[0].startswith("dlcli: error: rank 1 of 2 was killed by SIGKILL; "), stderr
    assert "Traceback" not in stderr and "FAILED" not in stderr
    assert json.loads((out / "config.json").read_text())["status"] == "interrupted"
