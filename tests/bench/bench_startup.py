"""Start-up benchmark of the calculators (whole processes, run by hand).

    .venv/bin/python tests/bench/bench_startup.py [--runs 20]

Times, interleaved, median of N runs each:
  - `python -c pass` (the interpreter floor),
  - a minimal one-command Typer app on the same interpreter (the anchor),
  - `dlcli featsize 224x224 --arch resnet50 --json` and `dlcli receptive-field --arch vgg16 --json`.
Targets (issue 2): featsize <= 150 ms median, and <= 1.25x the minimal Typer app.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _results  # noqa: E402

MINIMAL_APP = """
import typer
app = typer.Typer()
@app.command()
def main(size: str, kernel: int = 3, json: bool = False):
    print(size, kernel)
if __name__ == "__main__":
    app()
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    _results.add_argument(parser)
    args = parser.parse_args()
    # An installed package has its bytecode compiled at install time; an editable checkout under
    # PYTHONDONTWRITEBYTECODE would recompile dlcli's sources in every process. Measure the former.
    import compileall

    import dlcli

    compileall.compile_dir(str(Path(dlcli.__file__).parent), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "minimal_typer_app.py"
        app.write_text(MINIMAL_APP)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "minimal Typer app": [sys.executable, str(app), "224x224", "--kernel", "3"],
            "dlcli featsize --arch resnet50 --json": [
                sys.executable,
                "-m",
                "dlcli",
                "featsize",
                "224x224",
                "--arch",
                "resnet50",
                "--json",
            ],
            "dlcli receptive-field --arch vgg16 --json": [
                sys.executable,
                "-m",
                "dlcli",
                "receptive-field",
                "--arch",
                "vgg16",
                "--json",
            ],
            "dlcli featsize 32 -k 5 (table)": [
                sys.executable,
                "-m",
                "dlcli",
                "featsize",
                "32",
                "-k",
                "5",
            ],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for cmd in commands.values():  # warm the file cache once
            subprocess.run(cmd, capture_output=True, check=True)
        for _ in range(args.runs):
            for name, cmd in commands.items():  # interleaved: drift hits every command alike
                start = time.perf_counter()
                subprocess.run(cmd, capture_output=True, check=True)
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) * 1000 for name, t in times.items()}
    anchor = medians["minimal Typer app"]
    print(f"{'command':45} {'median ms':>10} {'x anchor':>9}")
    for name, ms in medians.items():
        print(f"{name:45} {ms:10.1f} {ms / anchor:9.2f}")
    featsize_ms = medians["dlcli featsize --arch resnet50 --json"]
    ok = featsize_ms <= 150 and featsize_ms / anchor <= 1.25
    print(f"target (<= 150 ms and <= 1.25x anchor): {'met' if ok else 'MISSED'}")
    rows = [
        _results.row(
            "startup",
            f"{name} / minimal Typer app",
            medians[name] / anchor,
            "<= 1.25" if "resnet50" in name else None,
            ok if "resnet50" in name else None,
            f"{medians[name]:.0f} ms vs {anchor:.0f} ms",
        )
        for name in medians
        if name.startswith("dlcli")
    ]
    _results.write(args.results, rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
