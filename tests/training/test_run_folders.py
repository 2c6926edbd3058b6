"""Trust at the edges: a run folder's three states, the writer's lock, leftovers, signals,
damaged or hostile files, and a fault-injection test that stops a run at every write of its
finish sequence."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import ROOT, assert_input_error, cli
from safetensors.torch import load_file

from dlcli import files
from dlcli.errors import InputError
from dlcli.lock import LOCK_NAME, Lock
from dlcli.training.config import TrainConfig
from dlcli.training.data import DataConfig
from dlcli.training.engine import callbacks as engine_callbacks
from dlcli.training.engine import setup
from dlcli.training.families.mlp import MLPConfig
from dlcli.training.runs import checkpoint
from dlcli.training.runs import files as rd
from dlcli.training.runs import state as rs

SPIRAL = "spiral:n=40"  # 2-D: the finish writes boundary.png too


def _train(folder: Path, epochs: int = 2, **kw):
    return setup.train(
        "mlp",
        MLPConfig(hidden=(8,), dropout=0.1),  # dropout: the RNG state must be restored too
        DataConfig(source=SPIRAL),
        TrainConfig(epochs=epochs, threads=1, device="cpu", seed=3, **kw),
        folder,
    )


def _weights(folder: Path) -> dict:
    return load_file(folder / rd.WEIGHTS)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("straight") / "run"
    _train(folder)
    return folder


class _Fault(BaseException):
    pass


def test_a_run_stopped_at_every_write_ends_resumable_or_finished(tmp_path, monkeypatch, straight):
    """Fault injection: Ctrl-C at the K-th rename of the run, for every K; the folder is then
    not started (before the first checkpoint), resumable or finished, and `resume` (or a new
    `train --out`) ends with the uninterrupted run's weights."""
    monkeypatch.setattr(engine_callbacks, "CHECKPOINT_SECONDS", 0.0)
    renames: list[str] = []
    monkeypatch.setattr(files, "before_rename", lambda path: renames.append(path.name))
    _train(tmp_path / "count")
    # config, 2 checkpoints, then the finish: weights, history, curves, boundary, metrics, done
    assert renames[-6:] == [rd.WEIGHTS, rd.HISTORY, rd.CURVES, rd.BOUNDARY, rd.METRICS, rd.CONFIG]
    expected = _weights(straight)
    finish_from = len(renames) - 6
    for k in range(1, len(renames) + 1):
        calls = [0]

        def fault(path, k=k, calls=calls):
            calls[0] += 1
            if calls[0] == k:
                raise KeyboardInterrupt

        monkeypatch.setattr(files, "before_rename", fault)
        folder = tmp_path / f"k{k}"
        with pytest.raises(KeyboardInterrupt):
            _train(folder)
        monkeypatch.setattr(files, "before_rename", None)
        state = rs.run_state(folder)
        if k > finish_from:  # a kill in the finish sequence: never stuck between two states
            assert state.state == rs.RESUMABLE, (k, renames[k - 1], state)
            assert state.trained == 2
            result = cli("evaluate", folder)
            assert_input_error(result, "not finished", "--resume")
        if state.state == rs.NEW:
            _train(folder)  # --out takes a folder that holds nothing trained
        else:
            setup.resume(folder)
        assert rs.run_state(folder).state == rs.FINISHED
        assert _same(_weights(folder), expected), k
        assert not [n for n in os.listdir(folder) if n.startswith(".")], os.listdir(folder)


def test_sigkill_in_the_finish_sequence_then_resume(tmp_path, straight):
    """The same with a real SIGKILL (no handler runs, temporary files stay behind) at the first,
    next-to-last and last rename of the finish sequence, in a subprocess (the test above covers
    every rename in-process); resume cleans up and finishes."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from dlcli.training.engine import callbacks, setup
        from dlcli.training.config import TrainConfig
        from dlcli.training.data import DataConfig
        from dlcli.training.families.mlp import MLPConfig
        callbacks.CHECKPOINT_SECONDS = 0.0
        setup.train("mlp", MLPConfig(hidden=(8,), dropout=0.1), DataConfig(source="{SPIRAL}"),
                    TrainConfig(epochs=2, threads=1, device="cpu", seed=3),
                    Path(sys.argv[1]))
        """
    )
    expected = _weights(straight)
    kills = (4, 8, 9)  # renames 4, 8, 9: the weights, the metrics, the "done" mark
    procs = {  # side by side: each is mostly torch's import
        k: subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / f"k{k}")],
            env=dict(os.environ, DLCLI_TEST_KILL_AT_RENAME=str(k)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for k in kills
    }
    for k, proc in procs.items():
        assert proc.wait(timeout=120) == -signal.SIGKILL, k
    for k in kills:
        folder = tmp_path / f"k{k}"
        leftovers = [n for n in os.listdir(folder) if files.is_temporary(n)]
        assert len(leftovers) == 1, os.listdir(folder)  # what the kill left
        assert rs.run_state(folder).state == rs.RESUMABLE
        result = cli("train", "mlp", "--resume", folder, "--json")
        assert result.exit_code == 0, result.output
        assert rs.run_state(folder).state == rs.FINISHED
        assert _same(_weights(folder), expected), k
        assert not [n for n in os.listdir(folder) if n.startswith(".")]


def test_resume_finishes_a_run_whose_checkpoint_reached_its_epochs(tmp_path):
    folder = tmp_path / "r"
    _train(folder)
    for name in (rd.WEIGHTS, rd.METRICS, rd.CURVES):
        (folder / name).unlink()
    config = json.loads((folder / rd.CONFIG).read_text())
    config["status"] = "running"  # killed before the "done" mark
    (folder / rd.CONFIG).write_text(json.dumps(config))
    assert rs.run_state(folder).state == rs.RESUMABLE
    assert_input_error(cli("evaluate", folder), "not finished", "--resume")
    assert_input_error(cli("train", "mlp", "--out", folder), "resumable", "--resume")
    result = cli("train", "mlp", "--resume", folder, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["epochs"] == 2
    assert {rd.WEIGHTS, rd.METRICS, rd.CURVES} <= set(os.listdir(folder))
    assert cli("evaluate", folder).exit_code == 0
    assert_input_error(cli("train", "mlp", "--resume", folder), "already trained 2 epochs")


def test_out_reuses_a_folder_that_kept_nothing_trained(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / rd.CONFIG).write_text(json.dumps({"format": rd.RUN_FORMAT, "status": "diverged"}))
    (folder / ".model.safetensors.abc123.tmp").write_bytes(b"half")
    assert rs.run_state(folder).state == rs.NEW
    result = cli("train", "mlp", "--data", SPIRAL, "--epochs", "1", "--out", folder, "-q")
    assert result.exit_code == 0, result.output
    assert rs.run_state(folder).state == rs.FINISHED
    assert not [n for n in os.listdir(folder) if n.startswith(".")]


def test_a_second_writer_is_refused_and_a_killed_holder_blocks_no_one(tmp_path):
    folder = tmp_path / "r"
    _train(folder, epochs=1)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from dlcli.lock import Lock; "
            "Lock(sys.argv[1], 'x').acquire(); print('held', flush=True); time.sleep(60)",
            str(folder / LOCK_NAME),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        result = cli("train", "mlp", "--resume", folder, "--epochs", "2")
        assert_input_error(result, f"in use by process {holder.pid}", str(folder))
        sweep = cli("train", "mlp", "--out", folder, "--epochs", "1")
        assert_input_error(sweep, f"process {holder.pid}")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    assert (folder / LOCK_NAME).exists()  # the file stays after a kill; the lock does not
    result = cli("train", "mlp", "--resume", folder, "--epochs", "2", "--json")
    assert result.exit_code == 0, result.output
    assert not (folder / LOCK_NAME).exists()  # a clean exit takes its lock file away


def test_lock_in_process_and_word2vec_out_and_sweep_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c d e f\n" * 30)
    with Lock(tmp_path / ".v.txt.lock", "x"):
        result = cli("word2vec", "cbow", corpus, "--min-count", "1", "--out", "v.txt")
        assert_input_error(result, "--out v.txt", f"process {os.getpid()}")
    (tmp_path / "sw").mkdir()
    with Lock(tmp_path / "sw" / LOCK_NAME, "x"):
        result = cli("train", "mlp", "--hidden", "4", "--hidden", "8", "--out", tmp_path / "sw")
        assert_input_error(result, "sweep folder", f"process {os.getpid()}")
    with Lock(tmp_path / "l", "x"), pytest.raises(InputError, match="in use"):
        Lock(tmp_path / "l", "y").acquire()  # flock conflicts within one process too


def test_word2vec_creates_the_out_folder_cleans_leftovers_and_refuses_read_only(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c d e f\n" * 30)
    out = tmp_path / "new" / "deeper" / "v.txt"
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "deeper").mkdir()
    (out.parent / ".v.txt.x1y2.tmp").write_text("left by a kill")
    result = cli("word2vec", "cbow", corpus, "--min-count", "1", "--size", "5", "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(out.parent)) == ["v.txt"]
    other = tmp_path / "made" / "for" / "me.txt"
    result = cli("word2vec", "cbow", corpus, "--min-count", "1", "--size", "5", "--out", other)
    assert result.exit_code == 0 and other.is_file(), result.output
    if os.geteuid() != 0:  # root writes anywhere
        (tmp_path / "ro").mkdir(mode=0o555)
        assert_input_error(
            cli("word2vec", "cbow", corpus, "--out", tmp_path / "ro" / "v.txt"), "cannot"
        )
        assert_input_error(cli("train", "mlp", "--out", tmp_path / "ro" / "run"), "cannot")


def test_a_killed_word2vec_leaves_its_working_folder_to_the_next_run(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlcli", "word2vec", "cbow", "-", "--min-count", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        proc.stdin.write(b"a b c d\n" * 100)
        proc.stdin.flush()
        for _ in range(600):  # the working folder appears once the corpus is being read
            found = list(tmp_path.glob("dlcli-w2v-*"))
            if found and any(p.iterdir() for p in found):
                break
            subprocess.run(["sleep", "0.05"])
        assert found and found[0].name.startswith(f"dlcli-w2v-{proc.pid}-")
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()
    assert list(tmp_path.glob("dlcli-w2v-*")) == found  # SIGKILL: nothing could clean up
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c d e f\n" * 30)
    result = subprocess.run(
        [sys.executable, "-m", "dlcli", "word2vec", "cbow", str(corpus), "--min-count", "1"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.glob("dlcli-w2v-*")) == []  # the stale one, and its own


def test_damaged_checkpoints_are_refused_with_the_file_named(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_callbacks, "CHECKPOINT_SECONDS", 0.0)  # both checkpoints get written
    folder = tmp_path / "r"
    _train(folder, epochs=2)
    good = (folder / rd.CHECKPOINT).read_bytes()
    (folder / rd.CHECKPOINT).write_bytes(b"not safetensors at all")
    assert checkpoint.load(folder).path.name == rd.PREV_CHECKPOINT  # the rotation's fallback
    (folder / rd.PREV_CHECKPOINT).unlink()
    result = cli("train", "mlp", "--resume", folder, "--epochs", "3")
    line = assert_input_error(result, str(folder / rd.CHECKPOINT), "delete")
    assert "epoch 1" in line  # says how to train again from the start
    (folder / rd.CHECKPOINT).write_bytes(good[: len(good) // 2])
    (folder / rd.PREV_CHECKPOINT).write_bytes(good[: len(good) // 3])
    result = cli("train", "mlp", "--resume", folder, "--epochs", "3")
    line = assert_input_error(result, "not a complete safetensors file", rd.PREV_CHECKPOINT)
    assert str(folder / rd.CHECKPOINT) in line
    assert_input_error(cli("evaluate", folder), "checkpoint")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("epoch", -(10**18), "history rows"),
        ("epoch", True, "'epoch'"),
        ("best_epoch", 99, "best_epoch"),
        ("wait", -1, "wait"),
        ("history", [{"epoch": 1}, "x"], "history row 2"),
        ("optimizer", {"param_groups": 3, "scalars": {}}, "optimizer"),
    ],
)
def test_malformed_checkpoint_metadata_names_the_file(tmp_path, field, value, fragment):
    folder = tmp_path / "r"
    _train(folder, epochs=2)
    (folder / rd.PREV_CHECKPOINT).unlink(missing_ok=True)
    tensors, meta = rd.load_tensors(folder / rd.CHECKPOINT)
    meta[field] = value
    (folder / rd.CHECKPOINT).write_bytes(rd.tensors_bytes(tensors, meta))
    result = cli("train", "mlp", "--resume", folder, "--epochs", "3")
    assert_input_error(result, str(folder / rd.CHECKPOINT), fragment)


def test_checkpoint_tensors_that_do_not_fit_name_the_file(tmp_path):
    folder = tmp_path / "r"
    _train(folder, epochs=2)
    (folder / rd.PREV_CHECKPOINT).unlink(missing_ok=True)
    tensors, meta = rd.load_tensors(folder / rd.CHECKPOINT)
    del tensors["rng.cpu"]
    (folder / rd.CHECKPOINT).write_bytes(rd.tensors_bytes(tensors, meta))
    result = cli("train", "mlp", "--resume", folder, "--epochs", "3")
    assert_input_error(result, str(folder / rd.CHECKPOINT), "damaged checkpoint")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_run_files_must_be_regular_files_of_a_sane_size(tmp_path, device, straight):
    folder = tmp_path / "r"
    folder.mkdir()
    for name in os.listdir(straight):
        (folder / name).write_bytes((straight / name).read_bytes())
    (folder / rd.CONFIG).unlink()
    (folder / rd.CONFIG).symlink_to(device)
    for args in (("evaluate", folder), ("train", "mlp", "--resume", folder), ("compare", folder)):
        assert_input_error(cli(*args), str(folder / rd.CONFIG), "regular file")
    with pytest.raises(InputError, match="at most 10 bytes"):
        files.read_regular(straight / rd.METRICS, 10)


@pytest.mark.parametrize(
    "edit",
    [
        lambda c: [],
        lambda c: c["model_config"].update(hidden="abc"),
        lambda c: c["train"].update(seed="x"),
        lambda c: c.update(input_shape=[10**12]),
    ],
    ids=["list", "hidden", "seed", "input_shape"],
)
def test_an_edited_config_is_an_input_error_naming_it(tmp_path, edit, straight):
    folder = tmp_path / "r"
    folder.mkdir()
    for name in os.listdir(straight):
        (folder / name).write_bytes((straight / name).read_bytes())
    config = json.loads((folder / rd.CONFIG).read_text())
    edited = edit(config)
    (folder / rd.CONFIG).write_text(json.dumps(config if edited is None else edited))
    for args in (("evaluate", folder), ("train", "mlp", "--resume", folder, "--epochs", "3")):
        assert_input_error(cli(*args), str(folder / rd.CONFIG))


def test_a_full_disk_names_the_file_and_says_resume(tmp_path, monkeypatch):
    calls = [0]

    def full(path):
        calls[0] += 1
        if calls[0] == 3:  # the first checkpoint is on disk, the second write fails
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(engine_callbacks, "CHECKPOINT_SECONDS", 0.0)
    monkeypatch.setattr(files, "before_rename", full)
    out = tmp_path / "r"
    result = cli("train", "mlp", "--data", SPIRAL, "--epochs", "3", "--out", out)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("dlcli: error: cannot write ")
    assert "checkpoint.safetensors" in lines[-1] and "No space left" in lines[-1]
    assert f"--resume {out}" in lines[-1]
    monkeypatch.setattr(files, "before_rename", None)
    assert rs.run_state(out).state == rs.RESUMABLE
    assert not [n for n in os.listdir(out) if files.is_temporary(n)]
    assert cli("train", "mlp", "--resume", out, "-q").exit_code == 0


# --- signals ------------------------------------------------------------------------------------

SIGNAL_AT_IMPORT = """
import importlib.abc, os, signal, sys
MODULE, SIGNAL = sys.argv[1], getattr(signal, sys.argv[2])
class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == MODULE:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), SIGNAL)
        return None
sys.meta_path.insert(0, Hook())
sys.argv = ["dlcli", *sys.argv[3:]]
from dlcli.cli.app import main
main()
"""

SIGNAL_AT_EXIT = """
import atexit, os, signal, sys
atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))
sys.argv = ["dlcli", *sys.argv[1:]]
from dlcli.cli.app import main
main()
"""


@pytest.mark.parametrize(
    ("module", "sig", "status"),
    [
        ("typer", "SIGINT", 130),
        ("numpy._core.multiarray", "SIGINT", 130),  # inside torch's import of numpy
        ("torch", "SIGTERM", 143),
    ],
)
def test_a_signal_during_start_up_ends_in_one_line(tmp_path, module, sig, status):
    args = ["train", "mlp", "--epochs", "1", "--threads", "1", "--out", str(tmp_path / "r")]
    proc = subprocess.run(
        [sys.executable, "-c", SIGNAL_AT_IMPORT, module, sig, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("dlcli: error: ")]
    assert proc.returncode == status, proc.stderr
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    lines = errors
    assert ("terminated" if status == 143 else "interrupted") in lines[0]
    assert proc.stdout == ""


def test_a_signal_at_shutdown_keeps_the_result():
    proc = subprocess.run(
        [sys.executable, "-c", SIGNAL_AT_EXIT, "featsize", "28", "-k", "5", "-q"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "24\n", "")


def test_sigterm_during_training_saves_and_exits_143(tmp_path):
    out = tmp_path / "run"
    args = ["train", "mlp", "--epochs", "100000", "--threads", "1", "--out", str(out)]
    with subprocess.Popen(
        [sys.executable, "-m", "dlcli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        cwd=ROOT,
    ) as proc:
        for line in proc.stderr:
            if line.startswith("epoch 2/"):
                break
        proc.send_signal(signal.SIGTERM)
        stdout, rest = proc.communicate(timeout=60)
    assert proc.returncode == 143
    after = [ln for ln in rest.splitlines() if not ln.startswith("epoch ")]
    assert len(after) == 1 and after[0].startswith("dlcli: error: terminated (SIGTERM) after")
    assert f"--resume {out}" in after[0]
    assert rs.run_state(out).state == rs.RESUMABLE
    assert not [n for n in os.listdir(out) if n.startswith(".")]
