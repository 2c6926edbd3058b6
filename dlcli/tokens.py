"""The one tokeniser: `dlcli word2vec` and `dlcli train lstm` split text into the same words.

    TOKEN                      the regex of one token
    tokenize(text, lowercase)  -> list of tokens
    tokenizer(lowercase, raw)  -> the function that tokenises (raw: whitespace split only)

A token is a run of letters or digits, with inner apostrophes or hyphens kept: "don't",
"Æsop’s" and "well-known" are one token each. `[^\\W_]` is a Unicode letter or digit;
punctuation and symbols separate tokens and are dropped. One tokeniser for both commands means
vectors trained by `dlcli word2vec` cover exactly the words `train lstm --embeddings` looks up.
Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Callable

TOKEN = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """'Don't stop -- well-known, GOOD!' -> ["don't", 'stop', 'well-known', 'good']."""
    return TOKEN.findall(text.lower() if lowercase else text)


def tokenizer(lowercase: bool = True, raw: bool = False) -> Callable[[str], list[str]]:
    """The function that turns a piece of text into tokens (raw: split on whitespace only)."""
    if raw:
        return str.split
    findall = TOKEN.findall
    if lowercase:
        return lambda text: findall(text.lower())
    return findall
