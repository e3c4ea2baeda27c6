"""The published judge prompts (data files in ``templates/``) and reading a judge's verdict."""

from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib import resources
from typing import Literal

TemplateName = Literal["simpleqa", "browsecomp"]
Verdict = Literal["correct", "incorrect", "not_attempted"]


@cache
def load_template(name: TemplateName) -> str:
    """The grader prompt ``name`` (stripped, as the reference code strips it)."""
    data = resources.files("agentkit.eval").joinpath("templates", f"{name}.toml").read_text(encoding="utf-8")
    template = tomllib.loads(data).get("template")
    if not isinstance(template, str):
        raise ValueError(f"agentkit/eval/templates/{name}.toml has no template text")
    return template.strip()


def render(name: TemplateName, question: str, answer: str, expected: str) -> str:
    """The judge's prompt for one answer, filled in as the reference code fills it."""
    template = load_template(name)
    if name == "simpleqa":
        return template.format(question=question, target=expected, predicted_answer=answer)
    return template.format(question=question, response=answer, correct_answer=expected)


_LETTERS: dict[str, Verdict] = {"A": "correct", "B": "incorrect", "C": "not_attempted"}
_LETTER = re.compile(r"(?<![A-Za-z0-9_])([ABC])(?![A-Za-z0-9_])")
_WORDS: dict[str, Verdict] = {"NOT_ATTEMPTED": "not_attempted", "INCORRECT": "incorrect", "CORRECT": "correct"}
_WORD = re.compile(r"(?<![A-Za-z_])(NOT[_ ]ATTEMPTED|INCORRECT|CORRECT)(?![A-Za-z_])")
_YES_NO = re.compile(r"^[\s*_#>`-]*correct[\s*_`]*:[\s*_`]*(yes|no)(?![A-Za-z])", re.IGNORECASE | re.MULTILINE)


def parse_simpleqa(reply: str) -> Verdict | None:
    """A SimpleQA judge's grade: the reference takes the first of A, B or C found anywhere
    (so ``CORRECT`` reads as ``C``); here a bare letter (the whole reply or its last line)
    wins, then a single distinct standalone letter, then a single distinct grade word in
    capitals (``CORRECT``, ``INCORRECT``, ``NOT_ATTEMPTED``). ``None``: no clear grade."""
    lines = [line.strip().strip("\"'`*.: ") for line in reply.strip().splitlines() if line.strip()]
    if lines and lines[-1] in _LETTERS:
        return _LETTERS[lines[-1]]
    letters = set(_LETTER.findall(reply))
    if len(letters) == 1:
        return _LETTERS[letters.pop()]
    words = {w.replace(" ", "_") for w in _WORD.findall(reply)}
    if len(words) == 1:
        return _WORDS[words.pop()]
    return None


def parse_browsecomp(reply: str) -> Verdict | None:
    """A BrowseComp judge's ``correct: yes|no`` line (any case, markdown emphasis allowed);
    ``None`` when there is none or the reply says both."""
    found = {m.lower() for m in _YES_NO.findall(reply)}
    if len(found) != 1:
        return None
    return "correct" if found.pop() == "yes" else "incorrect"


def parse_verdict(name: TemplateName, reply: str) -> Verdict | None:
    return parse_simpleqa(reply) if name == "simpleqa" else parse_browsecomp(reply)
