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
