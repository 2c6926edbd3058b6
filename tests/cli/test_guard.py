"""Never write where we must not, and never misread what is there (issue 20's items 1, 2, 13-16
and its small ones; issue 16's `compare` table).

Every output passes `dlcli.outputs.check_output` (a user's name) or `atomic_write`'s own check
(dlcli's names): a target that exists and is no regular file is refused, a user's file inside a
run or sweep folder is refused, a --plot must end in .png; one line, exit 2, nothing written.
FIFOs and device nodes are real ones, made with os.mkfifo / os.mknod in a temporary folder
(never the system's /dev); the device cases need root and are skipped cleanly without it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, assert_input_error, cli, run_dlcli

from dlcli import files
from dlcli.errors import InputError

ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT_USER, reason="os.mknod of a device needs root")


def _device(path: Path) -> Path:
    """A character device like /dev/full (1, 7), made here, not in /dev."""
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    return path


def _tree(folder: Path) -> dict[str, bytes]:
    """Every regular file under `folder` with its bytes (what 'nothing written' compares)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A finished 2-D run without --patience (it draws boundary.png)."""
    out = tmp_path_factory.mktemp("guard") / "run"
    result = cli("train", "mlp", "--data", "spiral:n=40", "--hidden", "8", "--epochs", "3",
                 "--threads", "1", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def copy(run, tmp_path) -> Path:
    """A copy of the run to tamper with."""
    folder = tmp_path / "copy"
    shutil.copytree(run, folder)
    return folder


# --- 1. compare --plot, word2vec --out and every writer: never over what is not ours -------------


def test_plot_refuses_a_run_folders_file_and_writes_nothing(run, tmp_path):
    before = _tree(run)
    for target in (run / "config.json", run / "new.png", run / "curves.png"):
        line = assert_input_error(cli("compare", run, "--plot", target), "--plot")
        assert "run" in line or ".png" in line
    assert _tree(run) == before  # the config is still the config


def test_plot_refuses_fifos_devices_folders_and_odd_names(run, tmp_path):
    os.mkfifo(tmp_path / "fifo.png")
    (tmp_path / "folder.png").mkdir()
    os.symlink(tmp_path / "elsewhere.png", tmp_path / "link.png")
    cases = {
        "fifo.png": "FIFO",
        "folder.png": "folder",
        "link.png": "link",
        "": "empty",
        str(tmp_path): "folder",
        "missing/x.png": "does not exist",
        "x.txt": ".png",
    }
    for name, fragment in cases.items():
        target = name if name in ("", str(tmp_path)) else str(tmp_path / name)
        assert_input_error(cli("compare", run, "--plot", target), fragment)
    # the boundaries file beside the curves is checked as well, before either is written
    os.mkfifo(tmp_path / "c-boundaries.png")
    assert_input_error(cli("compare", run, "--plot", tmp_path / "c.png"), "FIFO")
    assert not (tmp_path / "c.png").exists()
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo.png").st_mode)
    assert not (tmp_path / "elsewhere.png").exists()


@needs_root
def test_plot_and_word2vec_out_refuse_a_device(run, tmp_path):
    full = _device(tmp_path / "full.png")
    assert_input_error(cli("compare", run, "--plot", full), "device")
    vectors = _device(tmp_path / "v.txt")
    assert_input_error(cli("word2vec", "cbow", "--epochs", "1", "--out", vectors), "device")
    for node in (full, vectors):
        assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.png", "v.txt"]


def test_plot_refuses_an_unwritable_place(run, tmp_path):
    # a folder no file can be made in, even by root (/proc refuses new files)
    assert_input_error(cli("compare", run, "--plot", "/proc/dlcli-test.png"), "--plot")
    if not ROOT_USER:  # permissions hold only for other users
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert_input_error(cli("compare", run, "--plot", locked / "x.png"), "not writable")


def test_word2vec_out_refuses_a_fifo_and_a_run_folder(run, tmp_path):
    os.mkfifo(tmp_path / "v.txt")
    args = ("word2vec", "cbow", "--epochs", "1", "--size", "8")
    assert_input_error(cli(*args, "--out", tmp_path / "v.txt"), "FIFO")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "v.txt").st_mode)
    before = _tree(run)
    assert_input_error(cli(*args, "--out", run / "vectors.txt"), "inside")
    assert _tree(run) == before


def test_train_and_sweep_out_refuse_a_place_inside_a_run(run):
    before = _tree(run)
    assert_input_error(cli("train", "mlp", "--epochs", "1", "--out", run / "sub"), "inside")
    sweep = ("train", "mlp", "--epochs", "1", "--hidden", "3", "--hidden", "4")
    assert_input_error(cli(*sweep, "--out", run / "sweep"), "inside")
    assert _tree(run) == before and not (run / "sub").exists()


def test_the_atomic_writer_itself_refuses_what_is_no_regular_file(tmp_path, run, copy):
    """dlcli's own names (a run's files, sweep.json, the data cache) pass the same rule."""
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    for name in ("fifo", "folder"):
        with pytest.raises(InputError, match="not a regular file"):
            files.atomic_write_bytes(tmp_path / name, b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy", "fifo", "folder"]
    files.atomic_write_bytes(tmp_path / "plain", b"x")  # a regular file is replaced as ever
    files.atomic_write_bytes(tmp_path / "plain", b"y")
    assert (tmp_path / "plain").read_bytes() == b"y"


def test_a_sweeps_own_files_are_not_written_over_a_fifo(tmp_path):
    out = tmp_path / "sw"
    out.mkdir()
    os.mkfifo(out / "sweep.csv")
    args = ("train", "mlp", "--data", "spiral:n=30", "--hidden", "3", "--hidden", "4",
            "--epochs", "1", "--threads", "1", "--out", out)  # fmt: skip
    assert_input_error(cli(*args), "sweep.csv", "FIFO")
    assert stat.S_ISFIFO(os.lstat(out / "sweep.csv").st_mode)


# --- 2. paths that are not UTF-8 -----------------------------------------------------------------


def test_a_non_utf8_out_is_refused_before_training(tmp_path):
    out = os.fsencode(tmp_path) + b"/\xff/r"
    env = {**os.environ, "LANG": "C", "LC_ALL": "C", "COLUMNS": "100"}
    args = [sys.executable, "-m", "dlcli", "train", "mlp", "--epochs", "1", "--out", out]
    result = subprocess.run(args, capture_output=True, env=env, timeout=600)
    assert result.returncode == 2, result.stderr
    assert b"UTF-8" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not os.path.exists(os.fsencode(tmp_path) + b"/\xff")


def test_a_run_in_a_non_utf8_folder_is_read_not_called_damaged(run, tmp_path):
    """A folder renamed to bytes that are not UTF-8: evaluate opens its weights by handle, and
    compare --json writes valid UTF-8 (U+FFFD), never lone surrogates."""
    folder = os.fsencode(tmp_path) + b"/run-\xff"
    shutil.copytree(os.fsencode(run), folder)
    env = {**os.environ, "LANG": "C", "LC_ALL": "C"}
    base = [sys.executable, "-m", "dlcli"]
    evaluate = subprocess.run([*base, "evaluate", folder, "--json"], capture_output=True,
                              env=env, timeout=600)  # fmt: skip
    assert evaluate.returncode == 0, evaluate.stderr
    expected = json.loads((run / "metrics.json").read_text())["test_accuracy"]
    assert json.loads(evaluate.stdout)["accuracy"] == pytest.approx(expected)
    compare = subprocess.run([*base, "compare", folder, "--json"], capture_output=True,
                             env=env, timeout=600)  # fmt: skip
    assert compare.returncode == 0, compare.stderr
    text = compare.stdout.decode("utf-8")  # strict: no lone surrogates
    assert "\\udc" not in text and "run-\ufffd" in json.loads(text)["runs"][0]["out"]


# --- 13. exit 2 and a line, not a bare exception -------------------------------------------------


def test_an_overflowing_width_and_deep_metrics_are_one_line(copy):
    config = json.loads((copy / "config.json").read_text())
    config["model_config"]["hidden"] = [1e400]  # json writes Infinity; a hand edit writes 1e400
    (copy / "config.json").write_text(json.dumps(config).replace("Infinity", "1e400"))
    assert_input_error(cli("evaluate", copy), "config.json", "hidden")
    assert_input_error(cli("train", "mlp", "--resume", copy), "config.json", "hidden")


def test_metrics_nested_deep_is_one_line(copy):
    (copy / "metrics.json").write_text("[" * 100_000 + "]" * 100_000)
    assert_input_error(cli("compare", copy), "metrics.json", "nested")
    (copy / "metrics.json").write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
    assert_input_error(cli("compare", copy), "metrics.json", "nested")


# --- 14. a sweep's folder names are unique -------------------------------------------------------


def test_sweep_runs_whose_names_collide_get_folders_of_their_own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sample_data").mkdir()
    shutil.copy(ROOT / "sample_data" / "flowers.csv", tmp_path / "sample_data" / "flowers.csv")
    shutil.copy(ROOT / "sample_data" / "flowers.csv", tmp_path / "sample_data_flowers.csv")
    args = ("train", "mlp", "--data", "sample_data/flowers.csv", "--data",
            "sample_data_flowers.csv", "--target", "species", "--epochs", "1", "--threads", "1",
            "--out", "sw")  # fmt: skip
    first = cli(*args, "--json")
    assert first.exit_code == 0, first.output
    names = [r["name"] for r in json.loads(first.stdout)["runs"]]
    assert len(set(names)) == 2 and all(
        n.startswith("data=sample_data_flowers.csv-") for n in names
    )
    again = cli(*args, "--json")  # the same command continues (here: keeps) the same sweep
    assert again.exit_code == 0, again.output
    assert (
        "kept" in again.stderr
        or json.loads(again.stdout)["runs"] == json.loads(first.stdout)["runs"]
    )


# --- 15. damaged files in a finished run are named -----------------------------------------------


@pytest.mark.parametrize("kind", ["zero-link", "fifo", "folder"])
@pytest.mark.parametrize("name", ["metrics.json", "model.safetensors"])
def test_a_finished_runs_file_that_is_no_file_is_named(copy, name, kind):
    target = copy / name
    target.unlink()
    if kind == "zero-link":
        os.symlink("/dev/zero", target)
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    for command in ("compare", "evaluate"):
        line = assert_input_error(cli(command, copy), name)
        assert "resumable" not in line, line


# --- 16. config.json's values are validated when it is read ---------------------------------------


def test_a_zero_std_is_refused_not_predicted_as_nan(copy, tmp_path):
    config = json.loads((copy / "config.json").read_text())
    config["standardize"]["std"] = [0, 0]
    (copy / "config.json").write_text(json.dumps(config))
    (tmp_path / "x.csv").write_text("x,y\n0.1,0.2\n")
    assert_input_error(cli("predict", copy, tmp_path / "x.csv"), "standardize", "std")


@pytest.mark.parametrize("hidden", [[True], [2.5], ["8"], [-3]])
def test_widths_of_the_wrong_type_are_named(copy, hidden):
    config = json.loads((copy / "config.json").read_text())
    config["model_config"]["hidden"] = hidden
    (copy / "config.json").write_text(json.dumps(config))
    line = assert_input_error(cli("evaluate", copy), "config.json", "hidden")
    assert "safetensors" not in line


# --- small: compare's -q, its words and its numbers ---------------------------------------------


def test_compare_quiet_title_and_integer_epochs(run, tmp_path):
    quiet = cli("compare", run, "-q")
    assert quiet.exit_code == 0 and quiet.stdout == f"{run}\n" and quiet.stderr == ""
    table = run_dlcli("compare", str(run))
    assert table.returncode == 0 and table.stdout.startswith("1 run ")
    assert "best epoch" not in table.stdout  # no --patience: the weights are the last epoch's
    patient = tmp_path / "patient"
    result = cli("train", "mlp", "--data", "spiral:n=40", "--epochs", "3", "--patience", "5",
                 "--threads", "1", "--out", patient)  # fmt: skip
    assert result.exit_code == 0, result.output
    both = run_dlcli("compare", str(run), str(patient))
    assert "2 runs" in both.stdout and "best epoch" in both.stdout
    best = json.loads((patient / "metrics.json").read_text())["best_epoch"]
    row = both.stdout.splitlines()[-1].split()  # the patient run: patience 5, then metrics
    assert row[row.index("5") + 7] == str(best)  # after 6 accuracies and losses: an integer
    assert f" {best}.0 " not in both.stdout
    losses = {p: json.loads((p / "metrics.json").read_text())["test_loss"] for p in (run, patient)}
    ordered = cli("compare", run, patient, "--sort", "test_loss", "-q")
    assert ordered.stdout.splitlines() == [str(p) for p in sorted(losses, key=losses.get)]


def test_compare_on_a_plain_file_and_non_utf8_metrics(copy, tmp_path):
    (tmp_path / "plain").write_text("x")
    assert_input_error(cli("compare", tmp_path / "plain"), "not a folder")
    (copy / "metrics.json").write_bytes(b"\xff\xfe{\x00}\x00")
    line = assert_input_error(cli("compare", copy), "metrics.json", "UTF-8")
    assert "utf-16" not in line.lower()


def test_hypothesis_replays_the_same_examples_unless_told_to_explore():
    """The README's Development promise: derandomised by default and under CI=true (which adds
    print_blob), fresh examples only under HYPOTHESIS_PROFILE=explore."""
    from hypothesis import settings

    if not os.environ.get("HYPOTHESIS_PROFILE"):
        assert settings.default.derandomize and settings.default.database is None
    ci, explore = settings.get_profile("ci"), settings.get_profile("explore")
    assert ci.derandomize and ci.print_blob and ci.database is None
    assert not explore.derandomize and explore.max_examples == 400 > ci.max_examples
    probe = subprocess.run(
        [sys.executable, "-c", "import conftest, hypothesis; "
         "print(hypothesis.settings.default.print_blob)"],
        cwd=ROOT / "tests", env={**os.environ, "CI": "true", "HYPOTHESIS_PROFILE": ""},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert probe.stdout.strip() == "True", probe.stderr
