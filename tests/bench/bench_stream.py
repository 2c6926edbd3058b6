"""Stream benchmark of the calculators: `featsize -` against a bare Python loop (whole processes).

    .venv/bin/python tests/bench/bench_stream.py [--runs 5] [--sizes 200000]

Feeds N sizes (one per line) through `dlcli featsize - --layers conv3,conv3s2,maxpool2` with
`-q` and with `--json`, and through a bare Python loop doing the same arithmetic (read a line,
three floor divisions, write the answer), interleaved, median of the runs. Each answer file is
checked against the loop's, so a fast wrong answer cannot pass.
Targets (issue 16): `-q` <= 3x the bare loop, `--json` <= 5x.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _results  # noqa: E402

CHAIN = "conv3,conv3s2,maxpool2"

# The same arithmetic with nothing around it: conv3 (k=3), conv3s2, maxpool2 (k=2, s=2).
BARE_LOOP = """
import sys
out = []
for line in sys.stdin:
    n = int(line)
    n = (n - 3) // 1 + 1
    n = (n - 3) // 2 + 1
    n = (n - 2) // 2 + 1
    out.append(f"{n}\\n")
sys.stdout.write("".join(out))
"""


def _time(cmd: list[str], sizes: Path, out: Path) -> float:
    with sizes.open("rb") as stdin, out.open("wb") as stdout:
        start = time.perf_counter()
        subprocess.run(cmd, stdin=stdin, stdout=stdout, check=True)
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", type=int, default=200_000)
    _results.add_argument(parser)
    args = parser.parse_args()
    import compileall

    import dlcli

    compileall.compile_dir(str(Path(dlcli.__file__).parent), quiet=1)  # as installed
    dlcli_cmd = [sys.executable, "-m", "dlcli", "featsize", "-", "--layers", CHAIN]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sizes = folder / "sizes.txt"
        sizes.write_text("".join(f"{n}\n" for n in range(8, 8 + args.sizes)))
        commands = {
            "bare Python loop": [sys.executable, "-c", BARE_LOOP],
            "dlcli featsize - -q": [*dlcli_cmd, "-q"],
            "dlcli featsize - --json": [*dlcli_cmd, "--json"],
        }
        outs = {name: folder / f"out{i}.txt" for i, name in enumerate(commands)}
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():  # interleaved: drift hits every command alike
                times[name].append(_time(cmd, sizes, outs[name]))
        expected = outs["bare Python loop"].read_text().splitlines()
        assert outs["dlcli featsize - -q"].read_text().splitlines() == expected
        documents = outs["dlcli featsize - --json"].read_text().splitlines()
        assert [str(json.loads(line)["output"][0]) for line in documents] == expected
    medians = {name: statistics.median(t) for name, t in times.items()}
    anchor = medians["bare Python loop"]
    print(f"{'command':30} {'median s':>9} {'x loop':>7}")
    for name, seconds in medians.items():
        print(f"{name:30} {seconds:9.3f} {seconds / anchor:7.2f}")
    targets = {"dlcli featsize - -q": 3.0, "dlcli featsize - --json": 5.0}
    rows = []
    for name, target in targets.items():
        ratio = medians[name] / anchor
        rows.append(
            _results.row(
                "stream",
                f"{name} ({args.sizes:,} sizes, {CHAIN}) / bare Python loop",
                ratio,
                f"<= {target:g}",
                ratio <= target,
                f"{medians[name]:.2f} s vs {anchor:.2f} s",
            )
        )
    _results.write(args.results, rows)
    ok = all(r["met"] for r in rows)
    print(f"targets (-q <= 3x, --json <= 5x the bare loop): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
