"""Every example block of the README is a promise: it runs as written and prints what it shows.

Every ```sh, ```python and ```console block of README.md (indented ones too) is one of:

- a calculator ```console block (`dlcli featsize`, `dlcli receptive-field`): run by
  tests/test_readme.py, output compared exactly;
- preceded by `<!-- example: run -->`: run here, in order, in a real shell in a fresh folder
  (with the checkout's `sample_data/` and `dlcli/sample_data/`), `dlcli` being this
  interpreter's. A ```console block's `$` commands run one after the other and the lines shown
  after a command are compared with what it prints (stdout and stderr together; see `matches`);
  a command with no lines after it shows no output and only has to succeed. A ```sh block runs
  line by line and must succeed; a ```python block runs as a script and must succeed;
- preceded by `<!-- example: run-by tests/DIR/test_NAME.py -->`: run by that test file, which reads
  the README (e.g. the lesson's commands, at full length, by tests/training/test_lesson.py);
- preceded by `<!-- example: not-run: REASON -->`: not run, for the reason given (a download, a
  GPU or a second machine, a 3 GB file).

A block with none of these fails `test_every_example_block_is_run_or_says_why`.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest
from conftest import ROOT

README = ROOT / "README.md"
FENCE = re.compile(r"^( *)```(sh|python|console)\n(.*?)^\1```", re.S | re.M)
MARKER = re.compile(r"<!-- example: (run-by|not-run|run)\b:?\s*(.*?)\s*-->")
CALCULATORS = ("dlcli featsize", "dlcli receptive-field")
# numbers in output: 1,234 / 0.6488 / -3 / 1e-05 / 37.5 (of 37.5%)
NUMBER = r"-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?"
# measurements of the machine, not results: any positive number passes
TIMING = re.compile(rf"({NUMBER})( s\b| words/s\b)")
BOX = "─━│┃┌┐└┘├┤┬┴┼┏┓┗┛┡┩┣┫┳┻╇╋"


@dataclass
class Block:
    line: int  # where the fence opens (1-based)
    kind: str  # sh | python | console
    body: str
    marker: str | None  # run | run-by | not-run | None
    detail: str | None


def blocks(text: str = "") -> list[Block]:
    """Every example block of the README with the `example:` marker just above it."""
    text = text or README.read_text()
    found = []
    for match in FENCE.finditer(text):
        indent = match.group(1)
        body = "\n".join(line.removeprefix(indent) for line in match.group(3).splitlines())
        before = text[: match.start()].rstrip("\n").splitlines()
        marker = detail = None
        for line in reversed(before):  # the HTML comments directly above the fence
            if not line.strip().startswith("<!--"):
                break
            if m := MARKER.search(line):
                marker, detail = m.group(1), m.group(2)
        found.append(Block(len(before) + 2, match.group(2), body, marker, detail))
    return found


def console_commands(body: str) -> list[tuple[str, list[str]]]:
    """(command, the lines shown after it) for each `$ ` line of a console block."""
    commands: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        elif commands:
            commands[-1][1].append(line)
    return commands


def _is_calculator(block: Block) -> bool:
    commands = console_commands(block.body)
    return (
        block.kind == "console"
        and bool(commands)
        and all(c.startswith(CALCULATORS) or any(f"| {x}" in c for x in CALCULATORS)
                for c, _ in commands)
    )  # fmt: skip


def problems(text: str) -> list[str]:
    """What is wrong with the example blocks of a README text: blocks neither run nor marked."""
    from test_readme import CALCULATOR_EXAMPLES

    found = []
    for block in blocks(text):
        where = f"README.md line {block.line} ({block.kind})"
        if _is_calculator(block):
            calculators = [c for c, _ in CALCULATOR_EXAMPLES]
            found += [
                f"{where}: {c}" for c, _ in console_commands(block.body) if c not in calculators
            ]
        elif block.marker is None:
            found.append(f"{where}: no <!-- example: ... --> marker above it")
        elif block.marker == "not-run" and len(block.detail or "") < 10:
            found.append(f"{where}: say why it is not run")
        elif block.marker == "run-by":
            test = ROOT / (block.detail or "")
            if not (test.is_file() and "README" in test.read_text()):
                found.append(f"{where}: {block.detail} does not read the README")
    return found


def test_every_example_block_is_run_or_says_why():
    text = README.read_text()
    assert len(blocks(text)) >= 20
    assert problems(text) == []
    # and the check can fail: a block without a marker, a reason left out, a test that is not
    bad = (
        "```sh\ndlcli train mlp\n```\n"
        "<!-- example: not-run: -->\n```python\nimport dlcli\n```\n"
        "<!-- example: run-by tests/calculators/test_featsize.py -->\n  ```sh\n  dlcli x\n  ```\n"
        "<!-- example: run -->\n```console\n$ dlcli train mlp\n```\n"
    )
    assert [p.split(": ", 1)[1] for p in problems(bad)] == [
        "no <!-- example: ... --> marker above it",
        "say why it is not run",
        "tests/calculators/test_featsize.py does not read the README",
    ]


# --- comparing output ---------------------------------------------------------------------------


def _normalise(line: str) -> str:
    """One space for any run of spaces, one box character for any run of it: a table whose
    columns are wider or narrower by a digit is the same table."""
    line = re.sub(rf"([{BOX}])\1+", r"\1", line.rstrip())
    return re.sub(r" +", " ", line).strip()


def _pattern(expected: str) -> re.Pattern[str]:
    """`expected` as a regex: `...` matches any text, every number is a group."""
    parts = []
    for piece in re.split(rf"(\.\.\.|{NUMBER})", expected):
        if piece == "...":
            parts.append(".*?")
        elif re.fullmatch(NUMBER, piece or "x"):
            parts.append(f"({NUMBER})")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts))


def _close(want: str, got: str, timing: bool) -> bool:
    """Numbers: a timing is any positive number; an integer is exact (counts, sizes); a decimal
    within 5% (or 0.01): training on another machine or BLAS moves the last digits."""
    a, b = float(want.replace(",", "")), float(got.replace(",", ""))
    if timing:
        return b > 0
    if re.fullmatch(r"-?[\d,]+", want):
        return a == b
    return math.isclose(a, b, rel_tol=0.05, abs_tol=0.01)


def line_matches(expected: str, actual: str) -> bool:
    expected, actual = _normalise(expected), _normalise(actual)
    match = _pattern(expected).fullmatch(actual)
    if match is None:
        return False
    timings = {m.start(1) for m in TIMING.finditer(expected)}
    numbers = [m for m in re.finditer(rf"\.\.\.|{NUMBER}", expected) if m.group() != "..."]
    return all(
        _close(want.group(), got, want.start() in timings)
        for want, got in zip(numbers, match.groups(), strict=True)
    )


def matches(expected: list[str], actual: list[str]) -> bool:
    """The lines shown against the lines printed. A shown line that starts with `...` (inside a
    table too: `│ ... │`) stands for any number of lines; `...` inside a line for any text;
    numbers compare as `_close` says."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if _normalise(head).strip(BOX + " ").startswith("..."):
        return any(matches(rest, actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and line_matches(head, actual[0]) and matches(rest, actual[1:])


def test_matching_rules():
    assert line_matches("│ time │ 10.6 s (1.5 s reading) │", "│ time   │ 31.2 s (2.0 s reading) │")
    assert line_matches('{"similarity": 0.6488}, ...]}', '{"similarity": 0.64881}, {"a": 1}]}')
    assert not line_matches("loss 12.6102", "loss 13.9")
    assert not line_matches("5,321 words", "5,322 words")
    assert not line_matches("hands 0.62, thigh 0.62", "thigh 0.62, hands 0.62")
    assert matches(["a", "...", "z"], ["a", "b", "c", "z"])
    assert matches(["a", "│ ... │ │", "z"], ["a", "z"])
    assert not matches(["a", "z"], ["a", "b", "z"])


# --- running the blocks marked `run` ------------------------------------------------------------


@pytest.fixture
def shell(tmp_path):
    """run(command) -> (status, output lines): bash in a fresh folder holding the checkout's
    sample data, with `dlcli` this interpreter's."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "dlcli"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -P -m dlcli "$@"\n')
    shim.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    (work / "sample_data").symlink_to(ROOT / "sample_data")
    (work / "dlcli").mkdir()  # the README's paths are a checkout's: dlcli/sample_data/...
    (work / "dlcli" / "sample_data").symlink_to(ROOT / "dlcli" / "sample_data")
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "COLUMNS": "100",
        "PYTHONPATH": str(ROOT),
    }

    def run(command: str) -> tuple[int, list[str]]:
        proc = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=600,
        )  # fmt: skip
        return proc.returncode, proc.stdout.rstrip("\n").splitlines()

    run.work = work  # type: ignore[attr-defined]
    return run


RUN = [b for b in blocks() if b.marker == "run"]


@pytest.mark.slow
@pytest.mark.parametrize("block", RUN, ids=[f"line{b.line}-{b.kind}" for b in RUN])
def test_example_runs_as_shown(block, shell, tmp_path):
    if block.kind == "python":
        script = tmp_path / "example.py"
        script.write_text(block.body)
        status, output = shell(f"'{sys.executable}' {script}")
        assert status == 0, "\n".join(output)
        return
    if block.kind == "sh":
        script = block.body.replace("\\\n", " ")  # a line continued with a backslash is one
        commands = [(line, None) for line in script.splitlines() if line.strip()]
    else:
        commands = console_commands(block.body)
    for command, shown in commands:
        status, output = shell(command)
        assert status == 0, (command, "\n".join(output))
        if shown:
            assert matches(shown, output), (command, "\n".join(output))
