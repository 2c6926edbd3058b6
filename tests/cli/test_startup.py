"""Start-up of the light commands: the exact modules they import, and the root help's listing.

The calculators run in tight shell loops, so `featsize`, `receptive-field`, `dlcli --help` and
`--version` import the few dlcli modules they need and nothing of training, word2vec, numpy or
torch. `-X importtime` does not see modules loaded through importlib (the command registry
loads commands that way), so each command runs in a real process that writes `sys.modules` at
exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import run_dlcli

from dlcli.cli.app import COMMANDS

HEAVY = {"torch", "numpy", "gensim", "matplotlib", "scipy", "sklearn", "PIL", "safetensors"}
BASE = {
    "dlcli",
    "dlcli.errors",
    "dlcli.interrupts",
    "dlcli.cli",
    "dlcli.cli.app",
    "dlcli.cli.common",
}
CALCULATORS = BASE | {"dlcli.cli.options", "dlcli.calculators", "dlcli.layers"}
FEATSIZE = CALCULATORS | {"dlcli.cli.featsize", "dlcli.calculators.featsize"}
ARCHS = {"dlcli.archs"}  # the --arch presets
STREAM = FEATSIZE | {"dlcli.cli.featsize_stream", "dlcli.calculators.compiled"}  # `featsize -`
TARGET = FEATSIZE | {"dlcli.calculators.target"}  # the --target solver
RECEPTIVE = FEATSIZE - {"dlcli.cli.featsize"} | {
    "dlcli.cli.receptive_field",
    "dlcli.calculators.receptive_field",
}

RF_ARCH = RECEPTIVE | ARCHS

PROBE = """
import atexit, json, os, sys
def dump():
    with open(os.environ["MODULES_OUT"], "w") as f:
        json.dump(sorted(sys.modules), f)
atexit.register(dump)
sys.argv = ["dlcli", *json.loads(os.environ["DLCLI_ARGS"])]
from dlcli.cli.app import main
main()
"""


def imported(tmp_path, args: list[str], stdin: str = "") -> set[str]:
    out = tmp_path / "modules.json"
    env = {**os.environ, "MODULES_OUT": str(out), "DLCLI_ARGS": json.dumps(args)}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], input=stdin, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(out.read_text()))


@pytest.mark.parametrize(
    ("args", "expected", "rich"),
    [
        (["featsize", "32", "-k", "5"], FEATSIZE, True),  # a table: Rich draws it
        (["featsize", "224x224", "--arch", "resnet50", "--json"], FEATSIZE | ARCHS, False),
        (["featsize", "32", "-k", "5", "-q"], FEATSIZE, False),
        (["featsize", "-", "--layers", "conv3,conv3s2", "--json"], STREAM, False),
        (["featsize", "32", "-k", "5", "--target", "16", "--json"], TARGET, False),
        (["receptive-field", "--arch", "vgg16"], RF_ARCH, True),
        (
            ["receptive-field", "--arch", "vgg16", "--size", "224x224", "--json"],
            RECEPTIVE | ARCHS,
            False,
        ),
        (["--help"], BASE, False),
        (["--version"], BASE, False),
        ([], BASE, False),
    ],
)
def test_light_commands_import_exactly_these_modules(tmp_path, args, expected, rich):
    modules = imported(tmp_path, args, stdin="32\n64\n")
    assert {m for m in modules if m.split(".")[0] == "dlcli"} == expected
    tops = {m.split(".")[0] for m in modules}
    assert not tops & HEAVY, sorted(tops & HEAVY)
    assert ("rich" in tops) == rich


def test_root_help_lists_every_command_on_one_line_without_cutting():
    result = run_dlcli("--help", env={"COLUMNS": "80"})
    assert result.returncode == 0
    listing = result.stdout.split("Commands:\n", 1)[1].splitlines()
    assert not any("..." in line for line in listing)
    assert [line.split()[0] for line in listing if line.strip()] == list(COMMANDS)
    for line, (*_, summary) in zip(listing, COMMANDS.values(), strict=False):
        assert line.endswith(summary) and len(line) <= 78, line
        assert summary.endswith(".") and summary.count(". ") == 0  # one sentence


def test_the_listing_is_the_full_apps_help(invoke):
    """`dlcli --help` in a real process lists commands from the registry alone; the app with
    every command loaded (what completion and the tests build) shows the very same text."""
    full = invoke("--help")
    light = run_dlcli("--help", env={"COLUMNS": "80"})
    assert full.exit_code == 0
    assert full.stdout.split("Options:")[1] == light.stdout.split("Options:")[1]
    assert (
        run_dlcli("featsiz", "32")
        .stderr.strip()
        .endswith(
            "No such command 'featsiz'. Did you mean 'featsize', 'features'? "
            "(see 'python -m dlcli --help')"
        )
    )
