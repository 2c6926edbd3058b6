"""Every benchmark of the project, one table of ratios with the machine's details.

    .venv/bin/python tests/bench/run.py [--quick] [--markdown] [--readme] [--only NAME,...]

Runs, as child processes, each writing its figures through `--results` (`_results.py`):

    startup    bench_startup.py    the calculators' start-up against a minimal Typer app
    stream     bench_stream.py     `featsize -` (-q and --json) against a bare Python loop
    train      bench_train.py      `dlcli train mlp` against a hand-written loop (and Keras)
    data       bench_data.py       the data loaders (CSV, image folder, CIFAR-shaped array) and
                                   `train cnn` on uint8 images against a hand-written loop
    word2vec   bench_word2vec.py   `dlcli word2vec` against a plain gensim script
    w2v-prepare bench_w2v_prepare.py  word2vec's tokenising pass, 2 worker processes against 1
    sweep      bench_sweep.py      the cost of --animate, and --parallel 2 against a serial sweep
    ddp        bench_ddp.py        2 ranks under torchrun against 1 process (throughput)
    threads    bench_threads.py    the default thread count, quiet and with a competing process
    inspect    bench_inspect.py    `featsize --model` against torchinfo (time) and `import torch`
                                   (peak RSS); needs DLCLI_ZOO_PYTHON, an interpreter with
                                   torchvision and torchinfo (.ci/run's zoo venv), else it skips

`--quick` runs smaller versions of all of them (under 3 minutes on a 2-core machine);
`--markdown` prints the table as Markdown; `--readme` also writes it into tests/bench/README.md
(the lab notes) between the `<!-- bench:start -->` and `<!-- bench:end -->` comments; the
README's Performance summary quotes rows of that block (tests/test_readme.py checks it).
Ratios are time ratios (lower is better) unless the row says otherwise; timings on a shared
machine swing, so each benchmark interleaves its contenders and reports medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"  # the lab notes; the top-level README summarises them
START, END = "<!-- bench:start -->", "<!-- bench:end -->"

# name -> (script, full arguments, --quick arguments)
BENCHES: dict[str, tuple[str, list[str], list[str]]] = {
    "startup": ("bench_startup.py", ["--runs", "20"], ["--runs", "5"]),
    "stream": ("bench_stream.py", ["--runs", "5"], ["--runs", "2", "--sizes", "50000"]),
    "train": (
        "bench_train.py",
        ["--repeats", "5", "--threads", "1"],
        ["--repeats", "2", "--epochs", "10", "--threads", "1", "--no-quality"],
    ),
    "data": ("bench_data.py", ["--repeats", "3"], ["--repeats", "1"]),
    "word2vec": (
        "bench_word2vec.py",
        ["--repeat", "3"],
        ["--repeat", "1", "--epochs", "1", "--models", "skipgram"],
    ),
    "w2v-prepare": (
        "bench_w2v_prepare.py",
        ["--repeat", "3", "--copies", "26"],
        ["--repeat", "1", "--copies", "8", "--no-gz"],
    ),
    "sweep": ("bench_sweep.py", ["--repeats", "5"], ["--repeats", "1", "--epochs", "100"]),
    "ddp": ("bench_ddp.py", ["--repeats", "3"], ["--repeats", "1", "--epochs", "1"]),
    "threads": (
        "bench_threads.py",
        ["--repeats", "5"],  # a shared machine's noise: the best of 5
        ["--repeats", "1", "--models", "mlp,resnet"],
    ),
    "inspect": (
        "bench_inspect.py",
        ["--repeats", "5", "--python", os.environ.get("DLCLI_ZOO_PYTHON", sys.executable)],
        ["--repeats", "1", "--python", os.environ.get("DLCLI_ZOO_PYTHON", sys.executable)],
    ),
}


def machine() -> dict[str, str]:
    import torch

    try:
        import gensim

        gensim_version = gensim.__version__
    except ImportError:
        gensim_version = "not installed"
    return {
        "cpu cores": f"{os.cpu_count()} logical, torch default {torch.get_num_threads()} threads",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gensim": gensim_version,
        "platform": platform.platform(terse=True),
    }


def load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def run_bench(name: str, quick: bool, tmp: Path) -> list[dict]:
    script, full, small = BENCHES[name]
    path = HERE / script
    if not path.exists():
        note = f"{script} is not in this checkout: skipped"
        return [{"bench": name, "what": note, "ratio": None, "target": None, "met": None}]
    results = tmp / f"{name}.json"
    cmd = [sys.executable, str(path), *(small if quick else full), "--results", str(results)]
    t0 = time.perf_counter()
    print(f"[run.py] {name}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    print(f"[run.py] {name}: {seconds:.0f} s, exit {proc.returncode}", file=sys.stderr)
    (tmp / f"{name}.log").write_text(proc.stdout + proc.stderr)
    rows = json.loads(results.read_text()) if results.exists() else []
    if not rows:  # an older benchmark without --results, or a failure: say so in the table
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or [""]
        what = f"{script} exited {proc.returncode} without figures ({tail[0][:80]})"
        rows = [{"bench": name, "what": what, "ratio": None, "target": None, "met": None}]
    return rows


def render(rows: list[dict], info: dict[str, str], markdown: bool) -> str:
    header = ["bench", "what", "ratio", "target", "met", "detail"]
    cells = [
        [
            r["bench"],
            r["what"],
            "" if r["ratio"] is None else f"{r['ratio']:.2f}",
            r.get("target") or "",
            {True: "yes", False: "NO", None: ""}[r.get("met")],
            r.get("detail", ""),
        ]
        for r in rows
    ]
    lines = []
    details = "; ".join(f"{k}: {v}" for k, v in info.items())
    if markdown:
        lines.append(f"Machine: {details}.\n")
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in cells]
    else:
        lines.append(details)
        widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(header)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def write_readme(table: str) -> None:
    text = README.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    if not rest or END not in rest:
        raise SystemExit(f"{README} has no {START} ... {END} block")
    README.write_text(f"{head}{START}\n{table}\n{END}{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a subset, under 3 minutes")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument(
        "--readme", action="store_true", help="write the table into tests/bench/README.md"
    )
    parser.add_argument("--only", help=f"comma-separated subset of {', '.join(BENCHES)}")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHES)
    unknown = sorted(set(names) - set(BENCHES))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}")
    info = machine()
    info["load average before"] = load()
    t0 = time.perf_counter()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            rows += run_bench(name, args.quick, Path(tmp))
    info["load average after"] = load()
    command = "run.py --quick" if args.quick else "run.py"
    info["run"] = f"{command}, {time.perf_counter() - t0:.0f} s"
    table = render(rows, info, args.markdown or args.readme)
    print(table)
    if args.readme:
        write_readme(table)
    return 0 if all(r.get("met") is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
