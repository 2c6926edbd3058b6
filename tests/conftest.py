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

# Hypothesis profiles (README, Development). The suite passes or fails for a reason, never by
# luck: by default and under CI=true it replays the same derandomised examples every run (CI
# also prints the blob that reproduces a failure); HYPOTHESIS_PROFILE=explore draws new, many
# more examples, and every failure it finds becomes a fix and a pinned @example.
FUZZ_EXAMPLES = 25  # per property of tests/cli/test_fuzz.py (its tests set no count of their own)
settings.register_profile(
    "dev", derandomize=True, database=None, max_examples=FUZZ_EXAMPLES, deadline=None
)
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    print_blob=True,
)
settings.register_profile(
    "explore", derandomize=False, max_examples=400, deadline=None, print_blob=True
)
_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _CI else "dev"))


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


def assert_input_error(result, *fragments: str) -> str:
    """Exit status 2 with exactly one line on stderr, no traceback, nothing on stdout; the line
    contains every fragment (if given). Returns the line."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dlcli: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# --- training (tests/training/: test_train.py, test_training_data.py, test_evaluate.py) -------


def cli(*args):
    """`dlcli ARGS...` in-process, without a fixture (arguments may be paths or numbers)."""
    from dlcli.cli.app import app

    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="session")
def mlp_run(tmp_path_factory) -> tuple[Path, dict]:
    """A 3-epoch mlp run on digits: (run folder, its --json document)."""
    import json

    out = tmp_path_factory.mktemp("runs") / "mlp"
    result = cli("train", "mlp", "--epochs", "3", "--threads", "1", "--json", "--out", out)
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


@pytest.fixture(scope="session")
def blobs_csv(tmp_path_factory) -> Path:
    """A CSV with 3 separable classes named by strings, 2 features plus a distractor column."""
    import numpy as np

    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("csv") / "blobs.csv"
    centers = {"setosa": (0.0, 0.0), "versicolor": (4.0, 0.0), "virginica": (0.0, 4.0)}
    lines = ["a,species,b,noise"]
    for name, (cx, cy) in centers.items():
        for _ in range(30):
            lines.append(
                f"{cx + rng.normal():.4f},{name},{cy + rng.normal():.4f},{rng.normal():.4f}"
            )
    path.write_text("\n".join(lines) + "\n")
    return path


def readme_commands(section: str) -> list[str]:
    """The `dlcli ...` lines of the ```sh blocks of README section `section` (between
    `<!-- section:NAME -->` and `<!-- /section:NAME -->`), in order."""
    import re

    text = (ROOT / "README.md").read_text()
    body = text[
        text.index(f"<!-- section:{section} -->") : text.index(f"<!-- /section:{section} -->")
    ]
    blocks = re.findall(r"```sh\n(.*?)```", body, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.startswith("dlcli ")]
