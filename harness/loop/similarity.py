"""How much two short texts (idea titles, hypotheses) say the same thing.

Word overlap after light normalisation: lower case, no stop words, plural and -ing/-ed
endings dropped, so "Learning-rate warmup" and "warm up the learning rate" share
`learn` and `rate`. Cheap, explainable and good enough to catch a repeated idea.
"""

from __future__ import annotations

import re

WORD = re.compile(r"[a-z0-9]+")
STOP_WORDS = frozenset(
    {"a", "an", "the", "of", "to", "in", "on", "for", "with", "and", "or", "by", "as", "at"}
    | {"from", "into", "via", "than", "then", "use", "using", "is", "are", "be", "it", "its"}
    | {"this", "that", "more", "less", "add", "adding", "try", "trying"}
)


def stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def words(text: str) -> frozenset[str]:
    """The normalised content words of `text`."""
    return frozenset(stem(w) for w in WORD.findall(text.lower()) if w not in STOP_WORDS)


def overlap(first: frozenset[str], second: frozenset[str]) -> float:
    """Jaccard similarity of two word sets: 1.0 for the same words, 0.0 for none shared."""
    if not first or not second:
        return 0.0
    return len(first & second) / len(first | second)
