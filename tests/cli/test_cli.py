"""The command line as a whole: entry points, help, exit codes, start-up without heavy imports."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from conftest import run_dlcli

from dlcli import __version__

HEAVY = ("torch", "numpy", "gensim", "matplotlib", "scipy", "sklearn", "PIL")


def test_version(invoke):
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"dlcli {__version__}"


def test_bare_dlcli_shows_help(invoke):
    result = invoke()
    assert result.exit_code == 0
    assert "featsize" in result.stdout and "receptive-field" in result.stdout


def test_real_process_and_console_script():
    result = run_dlcli("featsize", "224x224", "--arch", "resnet50", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["output"] == [7, 7]
    assert result.stderr == ""


def test_real_process_error_is_one_line():
    result = run_dlcli("featsize", "32", "--layers", "conv3,warp9")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "'warp9'" in result.stderr


def test_calculators_start_without_heavy_libraries():
    for args in (
        ["featsize", "32", "-k", "5"],
        ["receptive-field", "--arch", "vgg16", "--json"],
        ["featsize", "224x224", "--arch", "resnet50"],
    ):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "dlcli", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        imported = {
            m.group(1).split(".")[0] for m in re.finditer(r"\|\s+([\w.]+)\s*$", result.stderr, re.M)
        }
        assert imported and not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_broken_pipe_is_not_an_error():
    sizes = "".join(f"{n}\n" for n in range(8, 20000))
    proc = subprocess.run(
        f"{sys.executable} -m dlcli featsize - -q -k 3 | head -n 1",
        shell=True,
        input=sizes,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout == "6\n"
    assert "Traceback" not in proc.stderr and "error" not in proc.stderr


def test_a_closed_stdout_ends_every_command_quietly_with_status_0(tmp_path):
    """`| head` leaves early: help texts, tables, streams and JSON all end with status 0 and
    nothing on stderr (Click, Typer and Rich each answer a broken pipe in their own way)."""
    sizes = tmp_path / "sizes"
    sizes.write_text("".join(f"{n}\n" for n in range(8, 200000)))
    for command in (
        "--help",
        "train mlp --help",
        "receptive-field --arch resnet152",
        "featsize 224x224 --arch resnet152 --in-channels 3",
        f"featsize - -k 3 < {sizes}",
        f"featsize - -k 3 --json < {sizes}",
    ):
        proc = subprocess.run(
            f"set -o pipefail; {sys.executable} -m dlcli {command} | head -c 10 >/dev/null",
            shell=True,
            executable="/bin/bash",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (proc.returncode, proc.stderr) == (0, ""), command


def test_unknown_command_suggests_once(invoke):
    result = invoke("featsiz", "32")
    assert result.exit_code == 2
    assert result.stderr.count("Did you mean") == 1
    assert "Did you mean 'featsize', 'features'?" in result.stderr
    assert invoke("evaluat").stderr.count("Did you mean 'evaluate'?") == 1


def test_json_is_valid_even_with_non_finite_numbers(capsys):
    from dlcli.cli.common import print_json

    print_json({"a": float("nan"), "b": [1.0, float("inf")], "c": {"d": -float("inf")}})
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"a": None, "b": [1.0, None], "c": {"d": None}}
    assert (
        captured.err == "dlcli: warning: 3 non-finite number(s) (NaN or infinity) written as null\n"
    )


def test_absurd_numbers_are_input_errors(invoke, tmp_path):
    from conftest import assert_input_error

    out = str(tmp_path / "r")
    assert_input_error(invoke("featsize", "32x32", "--arch", "cifar-resnet600000002"), "depth")
    for flags, named in (
        (["--seed", "-1"], "--seed -1"),
        (["--seed", str(10**30)], "--seed"),
        (["--threads", str(10**30)], "--threads"),
        (["--momentum", "0.5"], "--momentum applies to --optimizer sgd"),
    ):
        result = invoke("train", "mlp", "--epochs", "1", "--out", out, *flags)
        assert_input_error(result, named)
        assert not (tmp_path / "r").exists()


def test_shell_completion_script_and_protocol():
    script = run_dlcli("completion", "bash")
    assert script.returncode == 0 and "complete -o default -F _dlcli_completion dlcli" in (
        script.stdout
    )
    for shell in ("zsh", "fish"):
        assert run_dlcli("completion", shell).stdout.strip()

    def complete(words: str) -> list[str]:
        env = {"_DLCLI_COMPLETE": "complete_bash", "COMP_WORDS": words}
        env["COMP_CWORD"] = str(len(words.split()) - (0 if words.endswith(" ") else 1))
        result = run_dlcli(env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert complete("dlcli tr") == ["train"]
    assert complete("dlcli train ") == ["mlp", "cnn", "resnet", "lstm", "custom"]
    assert complete("dlcli train mlp --optimizer ") == ["adam", "sgd"]
    assert "--weight-decay" in complete("dlcli train mlp --we")


def test_help_and_tables_are_readable_at_80_and_40_columns(invoke):
    """Help keeps whole flag names and choice lists at 80 columns; no table cuts a value to '…'
    at any width (it wraps text, or falls back to plain aligned columns)."""
    import click
    import typer

    from dlcli.cli.app import app

    env = {"COLUMNS": "80"}
    root = typer.main.get_command(app)
    paths = [[name] for name in root.list_commands(click.Context(root))]
    paths += [["train", m] for m in ("mlp", "cnn", "resnet", "lstm", "custom")]
    paths += [["word2vec", c] for c in ("cbow", "skipgram", "similar", "analogy", "evaluate")]
    for path in paths:
        text = invoke(*path, "--help", env=env).stdout
        assert text and all(len(line) <= 80 for line in text.splitlines()), path
    help_text = invoke("train", "mlp", "--help", env=env).stdout
    assert "--optimizer [adam|sgd]" in help_text and "auto|cpu|cuda|mps" in help_text
    for width in ("40", "80"):
        table = invoke("featsize", "224x224", "--arch", "resnet18", "--in-channels", "3",
                       env={"COLUMNS": width}).stdout  # fmt: skip
        assert "…" not in table and "conv3s2p1nobias-128" in table.replace("\n", "")
        assert "11,176,512" in table  # the feature extractor's total (torchvision's), whole
