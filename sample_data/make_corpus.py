"""Regenerate `dlcli/sample_data/kjv.txt.gz`, the sample corpus of `dlcli word2vec`, from Debian's KJV package.

The King James Version (1611) is in the public domain (outside the UK, where it is under Crown
patent). Debian packages its text as `bible-kjv-text` with the `bible` reader in `bible-kjv`:

    apt-get install bible-kjv && python sample_data/make_corpus.py

Output: one verse per line, verse numbers and chapter headings removed, the text itself untouched
(case and punctuation kept, so dlcli's tokeniser has real prose to work on), gzip-compressed with a
zero timestamp so that the file is byte-for-byte reproducible.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import sys
from pathlib import Path

# package data: the default corpus works from any install (wheel included), not only a checkout
OUT = Path(__file__).resolve().parent.parent / "dlcli" / "sample_data" / "kjv.txt.gz"
VERSE = re.compile(r"^\s+\d+ (.*\S)\s*$")  # "  12 And God said, ..." -> the verse text


def main() -> int:
    if shutil.which("bible") is None:
        print("needs the 'bible' program: apt-get install bible-kjv", file=sys.stderr)
        return 1
    # -l100000: no line wrapping, so each verse is one line.
    text = subprocess.run(
        ["bible", "-l100000", "gen1:1-rev22:21"], check=True, capture_output=True, text=True
    ).stdout
    verses = [m.group(1) for line in text.splitlines() if (m := VERSE.match(line))]
    words = sum(len(v.split()) for v in verses)
    with open(OUT, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(("\n".join(verses) + "\n").encode("utf-8"))
    print(f"{OUT}: {len(verses)} verses, {words} words, {OUT.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
