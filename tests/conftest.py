"""Shared fixtures: tiny data files and one short trained run per session (tests stay fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dlcli.cli.app import app


def invoke(*args: str):
    """Run the CLI in-process; returns click's Result (stdout and stderr apart)."""
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_input_error(result, *fragments: str) -> str:
    """Exit 2, one stderr line that starts 'dlcli: error:', no traceback, nothing on stdout."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dlcli: error: "), lines
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture(scope="session")
def mlp_run(tmp_path_factory) -> tuple[Path, dict]:
    """A 3-epoch mlp run on digits: (run folder, its --json document)."""
    out = tmp_path_factory.mktemp("runs") / "mlp"
    result = invoke("train", "mlp", "--epochs", "3", "--threads", "1", "--json", "--out", out)
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
