"""The README is a promise: its calculator examples run as shown, and its command reference is
the live `--help` text.

Regenerate the reference after changing a command's options:

    UPDATE_README=1 .venv/bin/python -m pytest tests/test_readme.py
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
        command, output = None, []
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


# --- the command reference, generated from --help -----------------------------------------------


def _commands(group, path=()):
    import click

    for name in group.list_commands(click.Context(group)):  # the order --help lists them in
        command = group.commands[name]
        if command.hidden:
            continue
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def render_reference() -> str:
    import typer
    from typer.testing import CliRunner

    from dlcli.cli.app import app

    runner = CliRunner()
    env = {"COLUMNS": "100", "TERMINAL_WIDTH": "100", "NO_COLOR": "1"}
    parts = ["<!-- reference:start (generated from --help by tests/test_readme.py) -->"]
    root = typer.main.get_command(app)
    for path in [(), *_commands(root)]:
        result = runner.invoke(app, [*path, "--help"], env=env, prog_name="dlcli")
        assert result.exit_code == 0, result.output
        text = "\n".join(line.rstrip() for line in result.stdout.splitlines()).strip("\n")
        title = " ".join(("dlcli", *path))
        parts += ["", f"#### `{title}`", "", "```text", text, "```"]
    parts.append("<!-- reference:end -->")
    return "\n".join(parts)


def test_reference_matches_help():
    text = README.read_text()
    match = re.search(r"<!-- reference:start.*?<!-- reference:end -->", text, flags=re.S)
    assert match, "README lost its command reference markers"
    fresh = render_reference()
    if os.environ.get("UPDATE_README"):
        README.write_text(text[: match.start()] + fresh + text[match.end() :])
        return
    assert match.group(0) == fresh, (
        "README reference is stale: UPDATE_README=1 pytest tests/test_readme.py"
    )


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
