"""The published judge prompts (data files in ``templates/``) and reading a judge's verdict."""

from __future__ import annotations

import re
import tomllib
import unicodedata
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
    """The judge's prompt for one answer: the published template filled in as the reference
    code fills it, except that the answer, written by the model under test (which may have read
    anything on the web), goes in as :func:`quote_answer` makes it."""
    template = load_template(name)
    quoted = quote_answer(name, answer)
    if name == "simpleqa":
        return template.format(question=question, target=expected, predicted_answer=quoted)
    return template.format(question=question, response=quoted, correct_answer=expected)


_BREAKS = re.compile(r"[ \t]*(?:\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029])\s*")
LINE_BREAK = " \u23ce "
"""What stands for a line break of the answer (`` ⏎ ``): the answer stays on its template line."""
_FENCE = re.compile(r"[`\uff40]{3,}|[~\uff5e]{3,}")
_COLON = r"\s*[:\uff1a\ufe13\ufe55\ua789\u2236\u02d0]"
_LABELS: dict[TemplateName, re.Pattern[str]] = {
    "simpleqa": re.compile(
        r"\b(?P<word>question|gold[\s_-]*target|predicted[\s_-]*answer(?:[\s_-]*\d+)?|grade)" + _COLON,
        re.IGNORECASE,
    ),
    "browsecomp": re.compile(
        r"\[\s*(?P<bracket>question|response|correct[\s_-]*answer)\s*\](?P<colon>" + _COLON + ")?"
        r"|\b(?P<word>question|response|correct[\s_-]*answer|extracted[\s_-]*final[\s_-]*answer|reasoning"
        r"|correct|confidence)" + _COLON,
        re.IGNORECASE,
    ),
}


def _unlabel(match: re.Match[str]) -> str:
    """``Gold target:`` -> ``Gold target -``; ``[correct_answer]:`` -> ``(correct_answer) -``."""
    found = match.groupdict()
    if found.get("bracket") is None:
        return f"{found['word']} -"
    return f"({found['bracket']})" + (" -" if found.get("colon") else "")


def quote_answer(name: TemplateName, answer: str) -> str:
    """``answer`` made unable to change the prompt's structure: invisible format characters
    dropped, on one line (line breaks become `` ⏎ ``), so it cannot leave its template line or
    start a new example; code fences (```` ``` ````, ``~~~``) turned into ``'''``, so it cannot
    close the template's fence; and the template's field labels (``Gold target:``,
    ``Predicted answer:``, ``[correct_answer]:``, ``correct:`` ...) turned into plain words
    (``Gold target -``, ``(correct_answer)``), so it cannot forge a field. What the answer says
    is kept for the judge to read."""
    text = "".join(c for c in answer.strip() if unicodedata.category(c) != "Cf")
    text = _BREAKS.sub(LINE_BREAK, text)
    text = _FENCE.sub("'''", text)
    return _LABELS[name].sub(_unlabel, text)


_LETTERS: dict[str, Verdict] = {"A": "correct", "B": "incorrect", "C": "not_attempted"}
_WORDS: dict[str, Verdict] = {"NOT_ATTEMPTED": "not_attempted", "INCORRECT": "incorrect", "CORRECT": "correct"}
_LETTER_AND_WORD = re.compile(r"([ABC])[\s*_`]*[:.)-][\s*_`]*((?i:NOT[_ ]ATTEMPTED|INCORRECT|CORRECT))")
_YES_NO = re.compile(r"[\s*_#>`-]*correct[\s*_`]*:[\s*_`]*(yes|no)(?![A-Za-z])", re.IGNORECASE)
_CONFIDENCE = re.compile(r"[\s*_#>`-]*confidence[\s*_`]*:", re.IGNORECASE)


_EMPHASIS = "\"'`*_.:#> \t"


def _final_line(reply: str) -> str:
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def parse_simpleqa(reply: str) -> Verdict | None:
    """A SimpleQA judge's grade, from its final line only, in a form the prompt asks for: the
    letter (``A``), the letter with its grade (``A: CORRECT``) or the grade (``CORRECT``,
    ``NOT ATTEMPTED``); markdown emphasis and quotes around it are allowed. ``None``: no clear
    grade there (the reference takes the first A, B or C anywhere, so ``CORRECT`` reads as C,
    and a judge that quotes the answer can be read as the answer's own letters)."""
    line = _final_line(reply).strip(_EMPHASIS)
    if line in _LETTERS:
        return _LETTERS[line]
    both = _LETTER_AND_WORD.fullmatch(line)
    if both is not None:
        letter, word = _LETTERS[both.group(1)], _WORDS[both.group(2).upper().replace(" ", "_")]
        return letter if letter == word else None
    return _WORDS.get(line.upper().replace(" ", "_"))


def parse_browsecomp(reply: str) -> Verdict | None:
    """A BrowseComp judge's ``correct: yes|no``, from its final line in the prompt's format (a
    ``confidence:`` line may follow it, as the format lists it last; any case, markdown
    emphasis allowed). ``None`` otherwise."""
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if lines and _CONFIDENCE.match(lines[-1]):
        lines.pop()
    found = _YES_NO.match(lines[-1]) if lines else None
    if found is None:
        return None
    return "correct" if found.group(1).lower() == "yes" else "incorrect"


def parse_verdict(name: TemplateName, reply: str) -> Verdict | None:
    return parse_simpleqa(reply) if name == "simpleqa" else parse_browsecomp(reply)
