"""The README is a promise: its calculator examples run as shown, its Python API example runs,
its performance figures are rows of the benchmark lab notes (tests/bench/README.md), and the
command reference it points to, `dlcli help --markdown`, is every command's live `--help`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

README = ROOT / "README.md"
CALCULATORS = ("dlcli featsize", "dlcli receptive-field")


def console_examples(text: str) -> list[tuple[str, str]]:
    """(command, expected output) for every `$ ` line of every ```console block."""
    examples = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        command: str | None = None
        output: list[str] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                if command is not None:
                    examples.append((command, "\n".join(output)))
                command, output = line[2:], []
            else:
                output.append(line)
        if command is not None:
            examples.append((command, "\n".join(output)))
    return examples


CALCULATOR_EXAMPLES = [
    e
    for e in console_examples(README.read_text())
    if e[0].startswith(CALCULATORS) or any(f"| {c}" in e[0] for c in CALCULATORS)
]


def test_readme_has_calculator_examples():
    assert len(CALCULATOR_EXAMPLES) >= 8


@pytest.mark.parametrize(
    "command, expected", CALCULATOR_EXAMPLES, ids=[c for c, _ in CALCULATOR_EXAMPLES]
)
def test_readme_example_runs_as_shown(command, expected, tmp_path):
    # a real shell, with `dlcli` resolving to this interpreter's dlcli
    shim = tmp_path / "dlcli"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m dlcli "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "COLUMNS": "100"}
    proc = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, env=env, timeout=60
    )
    got = "\n".join(line.rstrip() for line in (proc.stdout + proc.stderr).splitlines())
    want = "\n".join(line.rstrip() for line in expected.strip("\n").splitlines())
    assert got == want
    assert proc.returncode == (2 if want.startswith("dlcli: error:") else 0)


# --- the command reference: `dlcli help --markdown`, generated from --help ----------------------


def _commands(group, ctx, path=()):
    """Every visible command path under `group`, walked independently of dlcli.cli.help."""
    import click

    for name in group.list_commands(ctx):
        command = group.commands[name]
        if command.hidden:
            continue
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from _commands(command, click.Context(command, parent=ctx), (*path, name))


def _tree():
    import click
    import typer

    from dlcli.cli.app import app

    root = typer.main.get_command(app)
    return root, [(), *_commands(root, click.Context(root))]


def _dlcli(*args: str, columns: int = 80):
    """`dlcli ARGS...` in-process, named `dlcli` (as the console script is)."""
    from typer.testing import CliRunner

    from dlcli.cli.app import app

    env = {"COLUMNS": str(columns), "NO_COLOR": "1"}
    return CliRunner().invoke(app, list(args), env=env, prog_name="dlcli")


def _help(*path: str) -> str:
    """What `dlcli PATH --help` prints on an 80-column terminal, trailing spaces removed: a real
    process (CliRunner forces Click's help to 80 columns, a terminal of 80 gets 78)."""
    from conftest import run_dlcli

    done = run_dlcli(*path, "--help", env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    text = done.stdout.replace("Usage: python -m dlcli", "Usage: dlcli")
    return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n")


def test_markdown_reference_is_every_commands_help():
    """`dlcli help --markdown` holds, for every command of the tree, a `## dlcli ...` heading and
    exactly what `--help` prints on an 80-column terminal, in the order --help lists them."""
    _, paths = _tree()
    result = _dlcli("help", "--markdown", columns=200)  # the page's width is fixed
    assert result.exit_code == 0, result.output
    page = result.stdout
    titles = re.findall(r"^## `(dlcli[^`]*)`$", page, flags=re.M)
    assert titles == [" ".join(("dlcli", *p)) for p in paths]  # `dlcli help` itself too
    blocks = re.findall(r"^```text\n(.*?)\n```$", page, flags=re.S | re.M)
    assert len(blocks) == len(paths)
    for path, block in zip(paths, blocks, strict=True):
        assert block == _help(*path), path


def test_markdown_reference_names_every_option():
    """Every option and argument of every command appears in the page under its command."""
    import click

    root, paths = _tree()
    page = _dlcli("help", "--markdown").stdout
    sections = dict(re.findall(r"^## `dlcli ?([^`]*)`\n\n```text\n(.*?)\n```", page, re.S | re.M))
    checked = 0
    for path in paths:
        command = root
        for name in path:
            command = command.commands[name]
        text = sections[" ".join(path)]
        for param in command.params:
            if getattr(param, "hidden", False):
                continue
            names = param.opts + param.secondary_opts
            if isinstance(param, click.Argument):
                names = [param.human_readable_name]
            assert any(n in text for n in names), (path, names)
            checked += 1
    assert checked > 100


def test_help_command_prints_one_commands_help():
    from conftest import run_dlcli

    for path in (("train", "mlp"), ("word2vec", "similar")):
        done = run_dlcli("help", *path, env={"COLUMNS": "80"})
        assert done.returncode == 0 and done.stdout.strip("\n") == _help(*path)
    page = _dlcli("help", "data", "--markdown").stdout
    assert re.findall(r"^## `(.*)`$", page, flags=re.M) == [
        "dlcli data", "dlcli data list", "dlcli data fetch", "dlcli data path",
    ]  # fmt: skip
    bad = _dlcli("help", "train", "mpl")
    assert bad.exit_code == 2
    assert "'dlcli train' has no command 'mpl': choose from mlp, cnn" in bad.stderr


def test_readme_points_to_the_reference():
    text = README.read_text()
    assert "dlcli help --markdown" in text and "<!-- reference:start" not in text


# --- the performance summary: rows of the lab notes' benchmark table ------------------------------


def test_performance_summary_quotes_the_bench_table():
    """The README's Performance table is a choice of rows of the table `tests/bench/run.py
    --readme` writes into tests/bench/README.md: every figure it shows comes from there."""
    notes = (ROOT / "tests" / "bench" / "README.md").read_text()
    bench = re.search(r"<!-- bench:start -->\n(.*?)<!-- bench:end -->", notes, re.S)
    assert bench, "tests/bench/README.md lost its bench:start / bench:end block"
    summary = re.search(r"<!-- bench:summary.*?-->\n(.*?)<!-- /bench:summary -->",
                        README.read_text(), re.S)  # fmt: skip
    assert summary, "README lost its bench:summary block"
    rows = summary.group(1).strip().splitlines()
    table = bench.group(1).splitlines()
    assert len(rows) >= 6 and rows[:2] == [line for line in table if line.startswith("|")][:2]
    assert [row for row in rows if row not in table] == []


# --- the Python API example ---------------------------------------------------------------------


def test_python_api_example_runs(tmp_path):
    """The README's Python API block runs as written (in a fresh folder, a real interpreter)."""
    match = re.search(r"<!-- python-api -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert match, "README lost its Python API example"
    script = tmp_path / "example.py"
    script.write_text(match.group(1))
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:3] == ["(28,)", "(7, 7)", "(212, 212)"]
    assert lines[4] == "True"
    assert [line.split(":")[0] for line in lines[5:7]] == ["epoch 1", "epoch 2"]
    assert lines[7].endswith(" 100") and lines[8].startswith("['")
    assert (tmp_path / "runs" / "spiral20" / "model.safetensors").is_file()
    assert (tmp_path / "kjv.txt").is_file()
