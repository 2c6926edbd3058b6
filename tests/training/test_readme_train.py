"""Every command of the README's training section runs, in order, exactly as written."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from conftest import ROOT, cli, readme_commands

from dlcli.training.engine import device

README = ROOT / "README.md"


def _section_commands() -> list[str]:
    return readme_commands("train")


def test_readme_training_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # one thread: on a busy 2-core machine two threads per process thrash (speed, not results)
    monkeypatch.setattr(device, "default_threads", lambda: 1)
    # the files the examples name ship in sample_data/, as in a checkout
    Path("sample_data").symlink_to(README.parent / "sample_data")
    commands = _section_commands()
    assert len(commands) >= 8
    for command in commands:
        result = cli(*shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result.output)
        if "--json" in command:
            assert json.loads(result.stdout)["out"] == "runs/flowers"
    assert Path("runs/spiral/boundary.png").is_file()
    assert json.loads(Path("runs/digits-mlp/metrics.json").read_text())["epochs"] == 30
