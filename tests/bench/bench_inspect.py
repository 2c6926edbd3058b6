"""`featsize --model` against torchinfo, whole processes (run by hand or through run.py).

    python tests/bench/bench_inspect.py [--repeats 5] [--python PYTHON]

PYTHON (default: this interpreter) must have torchvision and torchinfo: on these machines the
zoo venv of .ci/run (torch 2.14.1 + torchvision 0.29.1 + torchinfo 1.8.0). Interleaved, medians:
  - time: `dlcli featsize --model torchvision.models:resnet50 --input 3x224x224 --json`
    against `torchinfo.summary(torchvision.models.resnet50(), (1, 3, 224, 224))` in a fresh
    process (issue 18: no slower, ratio <= 1);
  - peak RSS of `featsize --model vgg16.py:vgg16` (VGG-16 written in a file with torch alone,
    torchvision's architecture and 138,357,544 parameters) against `python -c "import torch"`
    (issue 18: within 100 MB); and of `featsize --model torchvision.models:vgg16` against
    `import torch, torchvision`, which that REF imports (importing torchvision alone costs more
    than 100 MB, so `import torch` is no anchor for it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _results  # noqa: E402

TORCHINFO = (
    "import torch, torchvision, torchinfo; "
    "torchinfo.summary(torchvision.models.resnet50(), (1, 3, 224, 224), verbose=0)"
)


VGG16_FILE = """import torch.nn as nn

CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def vgg16(num_classes=1000):
    layers, c = [], 3
    for v in CONFIG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
            c = v
    return nn.Sequential(
        nn.Sequential(*layers), nn.AdaptiveAvgPool2d(7), nn.Flatten(),
        nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
        nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, num_classes),
    )
"""


def run(cmd: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one child process; it must succeed."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {child.stderr.read().decode()[-500:]}")
    return seconds, usage.ru_maxrss / 1024  # Linux: kB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--python", default=sys.executable, help="interpreter with torchvision")
    _results.add_argument(parser)
    args = parser.parse_args()
    py = args.python
    probe = subprocess.run([py, "-c", "import torchvision, torchinfo"], capture_output=True)
    if probe.returncode:
        print(f"{py} lacks torchvision or torchinfo: nothing measured (see --python)")
        _results.write(
            args.results,
            [_results.row("inspect", "featsize --model: needs torchvision + torchinfo", None)],
        )
        return 0
    dlcli = [py, "-m", "dlcli", "featsize", "--input", "3x224x224", "--json", "--model"]
    here = [sys.executable, "-m", "dlcli", "featsize", "--input", "3x224x224", "--json", "--model"]
    vgg_file = Path(tempfile.mkdtemp()) / "vgg16.py"
    vgg_file.write_text(VGG16_FILE)
    commands = {
        "dlcli resnet50": [*dlcli, "torchvision.models:resnet50"],
        "torchinfo resnet50": [py, "-c", TORCHINFO],
        "dlcli vgg16 (file)": [*here, f"{vgg_file}:vgg16"],
        "import torch": [sys.executable, "-c", "import torch"],
        "dlcli vgg16 (torchvision)": [*dlcli, "torchvision.models:vgg16"],
        "import torch, torchvision": [py, "-c", "import torch, torchvision"],
    }
    for cmd in commands.values():  # warm the file cache once
        run(cmd)
    times: dict[str, list[float]] = {name: [] for name in commands}
    rss: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, cmd in commands.items():  # interleaved: drift hits every command alike
            seconds, peak = run(cmd)
            times[name].append(seconds)
            rss[name].append(peak)
    t = {name: statistics.median(v) for name, v in times.items()}
    m = {name: statistics.median(v) for name, v in rss.items()}
    for name in commands:
        print(f"{name:28} {t[name]:7.2f} s  peak RSS {m[name]:7.0f} MB")
    ratio = t["dlcli resnet50"] / t["torchinfo resnet50"]
    extra = m["dlcli vgg16 (file)"] - m["import torch"]
    extra_tv = m["dlcli vgg16 (torchvision)"] - m["import torch, torchvision"]
    print(f"resnet50 time, dlcli / torchinfo: {ratio:.2f} (target <= 1)")
    print(f"vgg16 (file) peak RSS over import torch: {extra:+.0f} MB (target <= 100 MB); ", end="")
    print(f"vgg16 (torchvision) over import torch, torchvision: {extra_tv:+.0f} MB")
    rows = [
        _results.row(
            "inspect",
            "featsize --model resnet50 --json / torchinfo summary (whole processes)",
            ratio,
            "<= 1",
            ratio <= 1,
            f"{t['dlcli resnet50']:.1f} s vs {t['torchinfo resnet50']:.1f} s",
        ),
        _results.row(
            "inspect",
            "featsize --model vgg16.py:vgg16: peak RSS over `import torch` (MB, not a ratio)",
            extra,
            "<= 100",
            extra <= 100,
            f"{m['dlcli vgg16 (file)']:.0f} MB vs {m['import torch']:.0f} MB",
        ),
        _results.row(
            "inspect",
            "featsize --model torchvision.models:vgg16: peak RSS over `import torch, "
            "torchvision` (MB)",
            extra_tv,
            None,
            None,
            f"{m['dlcli vgg16 (torchvision)']:.0f} MB vs {m['import torch, torchvision']:.0f} MB",
        ),
    ]
    _results.write(args.results, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
