"""The README's "Reproduce the lesson" commands run, each with --epochs 2 (and one thread)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from conftest import ROOT, cli, readme_commands

from dlcli.training.engine import device

README = ROOT / "README.md"


def lesson_commands() -> list[str]:
    return readme_commands("lesson")


def test_lesson_commands_run_and_draw_their_pictures(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(device, "default_threads", lambda: 1)
    commands = lesson_commands()
    assert len(commands) >= 8
    for command in commands:
        short = re.sub(r"--epochs \d+", "--epochs 2", command)
        result = cli(*shlex.split(short)[1:])
        assert result.exit_code == 0, (command, result.output)
    # every picture the section names exists
    section = README.read_text().split("<!-- section:lesson -->")[1]
    pictures = re.findall(r"`(runs/[^`]+\.(?:png|gif))`", section)
    assert len(pictures) >= 8
    for picture in pictures:
        assert Path(picture).is_file(), picture
