"""Shared fixtures: a CliRunner over the real app, and a helper to run dlcli as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent

# CI replays the same examples every run (a failure there is reproducible); by hand, hypothesis
# explores new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def invoke(runner):
    """Invoke `dlcli ARGS...` in-process; returns the click Result (stdout/stderr kept apart)."""
    from dlcli.cli.app import app

    def _invoke(*args: str, input: str | None = None, env: dict | None = None):
        return runner.invoke(app, list(args), input=input, env=env)

    return _invoke


def run_dlcli(*args: str, input: str | None = None, env: dict | None = None, cwd=None):
    """Run `python -m dlcli ARGS...` as a real process."""
    full_env = {**os.environ, "COLUMNS": "100", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "dlcli", *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=600,
    )


def assert_input_error(result) -> None:
    """Exit status 2 with exactly one line on stderr, no traceback, nothing on stdout."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dlcli: error: ")
    assert "Traceback" not in result.stderr
