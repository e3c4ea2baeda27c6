"""GAIA's answer scorer, ported rule for rule.

Source: the GAIA leaderboard's ``scorer.py`` (``question_scorer``, ``normalize_number_str``,
``split_string``, ``normalize_str``), https://huggingface.co/spaces/gaia-benchmark/leaderboard
/blob/main/scorer.py, as copied in many public GAIA harnesses. Its rules:

- the expected answer parses as a float: the answer, with ``$``, ``%`` and ``,`` removed,
  must parse to the same float (no tolerance);
- else the expected answer holds ``,`` or ``;``: both are split on ``[,;]``, must have as many
  elements, and each pair is compared as a number (when the expected element is one) or as a
  string with whitespace removed and case folded (punctuation kept);
- else both strings are compared with whitespace and ASCII punctuation removed, case folded.

Two differences, both where the original is accidental: a number that cannot be parsed is
``None`` here, not ``inf`` (so an unreadable answer never equals an expected ``inf``), and
the scorer also says which rule decided (``explain``).
"""

from __future__ import annotations

import re
import string

_PUNCTUATION = str.maketrans("", "", string.punctuation)


def is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def normalize_number_str(text: str) -> float | None:
    """``text`` as GAIA reads a number: ``$``, ``%`` and ``,`` removed, then ``float()``."""
    for char in ("$", "%", ","):
        text = text.replace(char, "")
    try:
        return float(text)
    except ValueError:
        return None


def split_string(text: str) -> list[str]:
    return re.split(r"[,;]", text)


def normalize_str(text: str, *, remove_punct: bool = True) -> str:
    """Whitespace removed (``sea gull`` is ``seagull``), lowercased, and ASCII punctuation
    removed unless ``remove_punct`` is false."""
    no_spaces = re.sub(r"\s", "", text).lower()
    return no_spaces.translate(_PUNCTUATION) if remove_punct else no_spaces


def question_scorer(model_answer: str, ground_truth: str) -> tuple[bool, str]:
    """Whether ``model_answer`` matches ``ground_truth`` by GAIA's rules, and which rule said so."""
    if is_float(ground_truth):
        number = normalize_number_str(model_answer)
        return number == float(ground_truth), f"compared as numbers: {number} vs {float(ground_truth)}"
    if any(char in ground_truth for char in (",", ";")):
        expected, given = split_string(ground_truth), split_string(model_answer)
        if len(expected) != len(given):
            return False, f"compared as lists: {len(given)} elements given, {len(expected)} expected"
        for i, (ma, gt) in enumerate(zip(given, expected, strict=True)):
            if is_float(gt):
                same = normalize_number_str(ma) == float(gt)
            else:
                same = normalize_str(ma, remove_punct=False) == normalize_str(gt, remove_punct=False)
            if not same:
                return False, f"compared as lists: element {i + 1} differs ({ma.strip()!r} vs {gt.strip()!r})"
        return True, f"compared as lists of {len(expected)} elements"
    got, want = normalize_str(model_answer), normalize_str(ground_truth)
    return got == want, f"compared as strings: {got!r} vs {want!r}"
