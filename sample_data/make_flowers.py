"""Regenerate `flowers.csv` and `new-flowers.csv`: a small labelled table for the README's
"your own CSV" examples (`dlcli train mlp --data sample_data/flowers.csv --target species`).

Generated, not collected: three made-up species whose four measurements (cm) are drawn from
normal distributions with a fixed seed, in the spirit of Fisher's iris table, so the file has no
outside data and no licence question. `python sample_data/make_flowers.py` rebuilds both files
byte for byte (standard library only).
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLUMNS = ("sepal_length", "sepal_width", "petal_length", "petal_width")
# species -> (mean, std) per column; two species overlap a little, as real ones do
SPECIES = {
    "setosa": ((5.0, 0.35), (3.4, 0.38), (1.5, 0.17), (0.25, 0.1)),
    "versicolor": ((5.9, 0.5), (2.8, 0.31), (4.3, 0.47), (1.3, 0.2)),
    "virginica": ((6.6, 0.63), (3.0, 0.32), (5.5, 0.55), (2.0, 0.27)),
}


def rows(rng: random.Random, per_species: int, labelled: bool) -> list[str]:
    out = []
    for _ in range(per_species):
        for name, stats in SPECIES.items():
            values = [f"{max(0.1, rng.gauss(mean, std)):.1f}" for mean, std in stats]
            out.append(",".join(values + ([name] if labelled else [])))
    return out


def main() -> None:
    rng = random.Random(1936)
    header = ",".join(COLUMNS)
    (HERE / "flowers.csv").write_text(
        "\n".join([header + ",species", *rows(rng, 50, labelled=True)]) + "\n"
    )
    (HERE / "new-flowers.csv").write_text(
        "\n".join([header, *rows(rng, 2, labelled=False)]) + "\n"
    )


if __name__ == "__main__":
    main()
