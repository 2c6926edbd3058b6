"""Generate sample_data/reviews.csv: short product/film reviews labelled positive or negative.

Every sentence is built from templates by this script (no outside text, so no licence question):
run `python sample_data/make_reviews.py` to rebuild the file byte for byte (seeded).

The set is made so that word order matters: about a third of the reviews negate their opinion word
("not good", "never boring", "hardly worth it"), and some contrast two clauses with "but", where the
second clause decides ("the plot was dull but the ending was great"). A bag of words cannot tell
"not good" from "good"; a recurrent net reading the words in order can.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

SEED = 2016
ROWS = 2400

POSITIVE = [
    "good",
    "great",
    "excellent",
    "wonderful",
    "enjoyable",
    "brilliant",
    "charming",
    "delightful",
    "superb",
    "lovely",
    "solid",
    "fun",
    "moving",
    "clever",
    "beautiful",
]
NEGATIVE = [
    "bad",
    "terrible",
    "awful",
    "boring",
    "dull",
    "poor",
    "weak",
    "disappointing",
    "tedious",
    "bland",
    "clumsy",
    "messy",
    "forgettable",
    "annoying",
    "painful",
]
NOUNS = [
    "film",
    "movie",
    "plot",
    "acting",
    "ending",
    "soundtrack",
    "story",
    "cast",
    "script",
    "book",
    "camera",
    "battery",
    "screen",
    "service",
    "design",
    "dialogue",
    "pacing",
    "blender",
    "kettle",
    "sequel",
    "game",
    "album",
    "chapter",
    "finale",
    "lens",
]
ADVERBS = ["", "", "really ", "very ", "quite ", "truly ", "rather ", "so ", "pretty "]
NEGATORS = ["not", "never", "hardly", "not at all", "far from"]
OPENERS = ["", "", "", "honestly, ", "overall ", "to be fair, ", "i think ", "in the end "]
VERBS_POS = ["loved", "enjoyed", "liked", "adored", "recommend"]
VERBS_NEG = ["hated", "disliked", "regret buying", "returned", "could not stand"]
TAILS = ["", "", "", " .", " !", " and i would say so again .", " , as my friends said ."]


def clause(rng: random.Random, positive: bool) -> str:
    """One opinion clause whose polarity is `positive`; a third of them reach it by negation."""
    noun = rng.choice(NOUNS)
    if rng.random() < 0.35:
        word = rng.choice(NEGATIVE if positive else POSITIVE)  # "not bad" is praise
        return f"the {noun} was {rng.choice(NEGATORS)} {word}"
    if rng.random() < 0.25:
        verb = rng.choice(VERBS_POS if positive else VERBS_NEG)
        return f"i {verb} the {noun}"
    word = rng.choice(POSITIVE if positive else NEGATIVE)
    verb = rng.choice(["was", "is", "felt", "seemed"])
    return f"the {noun} {verb} {rng.choice(ADVERBS)}{word}"


def review(rng: random.Random, positive: bool) -> str:
    if rng.random() < 0.3:
        # "X but Y": the second clause carries the verdict, the first says the opposite.
        text = f"{clause(rng, not positive)} but {clause(rng, positive)}"
    else:
        text = clause(rng, positive)
    return f"{rng.choice(OPENERS)}{text}{rng.choice(TAILS)}"


def main() -> None:
    rng = random.Random(SEED)
    out = Path(__file__).with_name("reviews.csv")
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["text", "label"])
        for _ in range(ROWS):
            positive = rng.random() < 0.5
            writer.writerow([review(rng, positive), "positive" if positive else "negative"])


if __name__ == "__main__":
    main()
