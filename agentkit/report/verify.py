"""Claim-level verification: does the stored text of a cited source support a sentence?

Lexical evidence only (plus an optional yes/no model judgement for doubtful claims):

- quoted spans must appear verbatim (whitespace, case and quote styles normalised);
- numbers must appear (``1,000`` = ``1000`` = ``1 000``; ``3.50`` = ``3.5``; ``45%`` = ``45``);
  integers below 10 are ignored (too common to be evidence);
- capitalised names and entities must appear;
- content words (stop words removed, light stemming) must overlap enough. Each word counts
  by its rarity among the run's sources (inverse document frequency), so a sentence whose
  distinctive words ("students", "campus") are absent is not carried by the common ones
  ("e-bike", "riders") that every source shares.

Quotes, numbers and names are checked against the text of all sources the sentence cites
(a sentence may combine facts), word overlap against each cited source on its own.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping

from agentkit.llm.types import Model, ModelRequest, Usage
from agentkit.report.models import CitationCheck, FlaggedNumber, Verdict

SUPPORTED_AT = 0.6
WEAK_AT = 0.35

_QUOTE_CHARS = str.maketrans(
    {
        "“": '"',
        "”": '"',
        "„": '"',
        "«": '"',
        "»": '"',
        "‘": "'",
        "’": "'",
        "`": "'",
        "–": "-",
        "—": "-",
        "\u00a0": " ",
        "\u202f": " ",
        "\u2009": " ",
    }
)
_QUOTED = re.compile(r'"([^"\n]{3,}?)"')
_NUMBER_GROUPED = re.compile(r"(?<![\w.,])(\d{1,3}(?:(?:,|[ \u00a0\u202f\u2009])\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?!\w)")
_NUMBER_PLAIN = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w])")
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_SCALED = re.compile(r"(\d+(?:\.\d+)?)\s*(thousand|million|billion|trillion)\b", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_][\w'-]*", re.UNICODE)
_NAME = re.compile(r"\b[A-Z][\w'-]*[A-Za-z0-9](?:\s+[A-Z][\w'-]*[A-Za-z0-9])*|\b[A-Z]{2,}\b")

_STOP_TEXT = """
a about above after again against all also although am an and any are as at be because been before being
below between both but by can could did do does doing down during each either few for from further had has
have having he her here hers herself him himself his how however i if in into is it its itself just like
may me might more most much must my myself no nor not now of off on once only or other our ours ourselves
out over own per same she should so some such than that the their theirs them themselves then there these
they this those through thus to too under until up upon us very was we were what when where whether which
while who whom whose why will with within without would yet you your yours yourself yourselves according
around across among amongst many several one two three four five six seven eight nine ten first second
new use used using based report reports reported study studies show shows shown found finds said says
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())


def normalize_text(text: str) -> str:
    """Case-folded, quote/dash-unified, whitespace-collapsed text for substring checks."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTE_CHARS)
    return " ".join(text.casefold().split())


def _canon_number(raw: str) -> str | None:
    digits = re.sub(r"[,\s\u00a0\u202f\u2009]", "", raw)
    try:
        value = float(digits)
    except ValueError:
        return None
    return _format(value)


def _format(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def numbers_in(text: str, *, lenient: bool = False) -> dict[str, str]:
    """Canonical number -> first spelling. ``lenient`` (for sources) adds every reading."""
    text = text.translate(_QUOTE_CHARS)
    found: dict[str, str] = {}
    patterns = (_NUMBER_GROUPED, _NUMBER_PLAIN) if lenient else (_NUMBER_GROUPED,)
    for pattern in patterns:
        for m in pattern.finditer(text):
            canon = _canon_number(m.group(1))
            if canon is not None:
                found.setdefault(canon, m.group(1))
    if lenient:
        for m in _SCALED.finditer(text):
            found.setdefault(_format(float(m.group(1)) * _SCALES[m.group(2).lower()]), m.group(0))
    return found


def significant_numbers(text: str) -> dict[str, str]:
    """Numbers a claim is checked for (integers 0-9 are ignored)."""
    out: dict[str, str] = {}
    for canon, raw in numbers_in(text).items():
        if "." not in canon and len(canon.lstrip("-")) == 1:
            continue
        out[canon] = raw
    for m in _SCALED.finditer(text):  # "1.5 million" may be written "1,500,000" in the source
        out.pop(_canon_number(m.group(1)) or "", None)
        out[_format(float(m.group(1)) * _SCALES[m.group(2).lower()])] = m.group(0)
    return out


def stem(word: str) -> str:
    """A deliberately small suffix-stripping stemmer (enough for lexical overlap)."""
    w = word.casefold().strip("'-")
    if w.endswith("'s"):
        w = w[:-2]
    for suffix, repl in (
        ("ational", "ate"),
        ("ization", "ize"),
        ("iveness", "ive"),
        ("fulness", "ful"),
        ("ousness", "ous"),
        ("ies", "y"),
        ("ied", "y"),
        ("ing", ""),
        ("edly", ""),
        ("ness", ""),
        ("ment", ""),
        ("ly", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not w.endswith("ss"):
            w = w[: len(w) - len(suffix)] + repl
            break
    if len(w) > 4 and w.endswith("e"):
        w = w[:-1]
    return w


def content_stems(text: str) -> set[str]:
    return {stem(w) for w in _WORD.findall(text) if w.casefold() not in STOP_WORDS and len(w) > 2}


def entities_in(sentence: str) -> set[str]:
    """Capitalised names (not a sentence's first word alone) and acronyms, lower-cased."""
    names: set[str] = set()
    for m in _NAME.finditer(sentence):
        words = [w for w in m.group(0).split() if w.casefold() not in STOP_WORDS]
        at_start = not sentence[: m.start()].strip(" \"'(*_-#>0123456789.")
        if at_start and len(m.group(0).split()) == 1 and not m.group(0).isupper():
            continue
        names.update(w.casefold() for w in words if len(w) > 1)
    return names


def quoted_spans(sentence: str) -> list[str]:
    text = unicodedata.normalize("NFKC", sentence).translate(_QUOTE_CHARS)
    return [q.strip() for q in _QUOTED.findall(text) if q.strip()]


class SourceText:
    """A source's stored text, pre-processed once for many checks."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.norm = normalize_text(text)
        self.numbers = set(numbers_in(text, lenient=True))
        self.stems = content_stems(text)
        self.words = {w.casefold() for w in _WORD.findall(unicodedata.normalize("NFKC", text))}
        self.acronym_words = {w.casefold() for w in re.findall(r"[A-Za-z][\w-]*", text)}


def rarity_weights(corpus: Iterable[SourceText]) -> Callable[[str], float]:
    """Smoothed inverse document frequency of a stem over ``corpus`` (1.0 = in every source)."""
    texts = list(corpus)
    n = len(texts)

    def weight(stem_: str) -> float:
        df = sum(stem_ in t.stems for t in texts)
        return math.log((n + 1) / (df + 1)) + 1.0

    return weight


def check_citation(
    sentence: str,
    source: SourceText | None,
    cited: Iterable[SourceText],
    weight: Callable[[str], float] | None = None,
) -> tuple[float, list[str]]:
    """Support score of ``sentence`` by ``source`` in [0, 1] and the reasons for doubt.

    ``weight`` gives each content word's weight in the overlap (default: all equal; see
    :func:`rarity_weights`). A missing quote or number caps the score below the weak threshold.
    """
    if source is None or not source.text.strip():
        return 0.0, ["no stored text for this source"]
    union = list(cited) or [source]
    reasons: list[str] = []
    hard_fail = False
    for quote in quoted_spans(sentence):
        if not any(normalize_text(quote) in s.norm for s in union):
            reasons.append(f"quote not found: \u201c{quote[:80]}\u201d")
            hard_fail = True
    numbers = significant_numbers(sentence)
    missing_numbers = [raw for canon, raw in numbers.items() if not any(canon in s.numbers for s in union)]
    if missing_numbers:
        reasons.append("number(s) not in source: " + ", ".join(missing_numbers))
        hard_fail = True
    names = entities_in(sentence)
    missing_names = sorted(n for n in names if not any(n in s.words or n in s.acronym_words for s in union))
    if missing_names:
        reasons.append("name(s) not in source: " + ", ".join(missing_names))
    stems = content_stems(sentence)
    w = weight or (lambda _stem: 1.0)
    overlap = sum(map(w, stems & source.stems)) / sum(map(w, stems)) if stems else 1.0
    if overlap < SUPPORTED_AT:
        reasons.append(f"low word overlap ({overlap:.0%})")
    parts = [(overlap, 0.6)]
    if names:
        parts.append((1 - len(missing_names) / len(names), 0.25))
    if numbers:
        parts.append((1 - len(missing_numbers) / len(numbers), 0.15))
    score = sum(v * w for v, w in parts) / sum(w for _, w in parts)
    if hard_fail:
        score = min(score, WEAK_AT - 0.05)
    return round(score, 3), reasons


def verdict_for(score: float) -> Verdict:
    if score >= SUPPORTED_AT:
        return "supported"
    return "weak" if score >= WEAK_AT else "unsupported"


def check_sentence(sentence: str, source_ids: list[str], texts: Mapping[str, SourceText | None]) -> list[CitationCheck]:
    cited = [t for sid in source_ids if (t := texts.get(sid)) is not None]
    weight = rarity_weights(t for t in texts.values() if t is not None)
    checks = []
    for sid in source_ids:
        score, reasons = check_citation(sentence, texts.get(sid), cited, weight)
        checks.append(CitationCheck(source_id=sid, score=score, verdict=verdict_for(score), reasons=reasons))
    return checks


def best_excerpt(sentence: str, text: str, size: int = 1500) -> str:
    """The window of ``text`` with the most content words of ``sentence``."""
    if len(text) <= size:
        return text
    stems = content_stems(sentence)
    step = size // 3
    best, best_score = 0, -1
    for start in range(0, max(1, len(text) - size + step), step):
        score = len(stems & content_stems(text[start : start + size]))
        if score > best_score:
            best, best_score = start, score
    return text[best : best + size]


async def judge_citation(judge: Model, sentence: str, text: str) -> tuple[bool, Usage, float]:
    """Ask ``judge`` whether the excerpt supports the sentence; returns (yes, usage, cost)."""
    prompt = (
        "Does the source excerpt support the claim? Answer with one word: yes or no.\n\n"
        f'Claim: {sentence}\n\nSource excerpt:\n"""\n{best_excerpt(sentence, text)}\n"""'
    )
    turn = await judge.complete(ModelRequest(messages=[{"role": "user", "content": prompt}], temperature=0.0))
    answer = turn.content.strip().casefold()
    return bool(re.match(r"\W*yes\b", answer)), turn.usage, turn.cost_usd


def unsourced_numbers(sentences: Iterable[str], corpus: Iterable[str]) -> list[FlaggedNumber]:
    """Numbers in ``sentences`` that appear in none of the ``corpus`` texts."""
    known: set[str] = set()
    for text in corpus:
        known |= numbers_in(text, lenient=True).keys()
    flagged: list[FlaggedNumber] = []
    seen: set[str] = set()
    for sentence in sentences:
        for canon, raw in significant_numbers(sentence).items():
            if canon not in known and canon not in seen:
                seen.add(canon)
                flagged.append(FlaggedNumber(number=raw, sentence=sentence))
    return flagged


# -- uncited claims ---------------------------------------------------------------------------
# A sentence of the report's body with no (valid) citation is flagged when it asserts something a
# reader could check against a source: a number, a superlative, a date or a named entity. Not
# flagged: questions, sentences that only introduce what follows, very short fragments, table
# rows, and in a conclusion the hedged restatements ("Overall, ridership appears to have grown")
# and restatements of facts the report cites elsewhere.

_PERCENT = re.compile(r"\d(?:[\d.,]*\d)?\s?(?:%|per ?cent\b)", re.IGNORECASE)
_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_DATE = re.compile(rf"\b(?:(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})\b)")
_SUPERLATIVE = re.compile(
    r"\b(?:the|its|their|his|her|our|a|an)\s+((?:second|third)[- ])?"
    r"((?:most|least)\s+[a-z][\w-]+|[a-z][\w-]*?est\b|best|worst|first|only|largest|record(?:[- ]high|[- ]low)?)",
    re.IGNORECASE,
)
_NOT_SUPERLATIVE = frozenset(
    {
        "interest",
        "forest",
        "honest",
        "modest",
        "test",
        "rest",
        "west",
        "latest",
        "harvest",
        "request",
        "guest",
        "quest",
        "nest",
        "chest",
        "contest",
        "protest",
        "digest",
        "manifest",
        "arrest",
        "earnest",
        "conquest",
        "inquest",
        "behest",
        "bequest",
        "unrest",
        "pest",
        "vest",
        "zest",
        "crest",
        "jest",
        "fest",
        "priest",
        "midwest",
        "northwest",
        "southwest",
        "suggest",
        "invest",
        "attest",
        "detest",
        "divest",
        "infest",
        "ingest",
        "congest",
    }
)
_INTRODUCES = re.compile(
    r"^(?:in\s+)?(?:this|the\s+following|the\s+next|the\s+sections?\s+below|below|here|next|we|let\s+us|let's)\b"
    r"[^.]{0,60}?\b(?:describ|summari[sz]|review|cover|present|outlin|discuss|examin|look|turn|consider|compar|"
    r"show|explor|set\s+out|focus)",
    re.IGNORECASE,
)
_HEDGES = re.compile(
    r"\b(?:may|might|could|likely|unlikely|suggests?|suggesting|appears?|seems?|possibly|perhaps|probably|"
    r"indicates?|tends?|overall|in\s+summary|in\s+conclusion|taken\s+together|broadly|generally|roughly)\b",
    re.IGNORECASE,
)
_ABOUT_THE_REPORT = re.compile(
    r"\b(?:this\s+report|listed\s+(?:under|in|below|above)|(?:see|under)\s+(?:the\s+)?references)\b", re.IGNORECASE
)
_CONCLUSION = re.compile(r"conclu|summary|outlook|takeaway|closing|final", re.IGNORECASE)
MIN_CLAIM_WORDS = 4


def checkable_parts(sentence: str) -> list[str]:
    """What a sentence asserts that a source could confirm: ``number: 1.2 million``,
    ``superlative: largest``, ``date: March 3``, ``name: world health organization``."""
    parts: list[str] = []
    numbers = [m.group(0) for m in _PERCENT.finditer(sentence)]
    numbers += [raw for raw in significant_numbers(sentence).values() if not any(raw in n for n in numbers)]
    parts += [f"number: {n}" for n in numbers]
    parts += [f"date: {m.group(0)}" for m in _DATE.finditer(sentence)]
    for m in _SUPERLATIVE.finditer(sentence):
        word = m.group(2)
        if word.casefold() not in _NOT_SUPERLATIVE:
            parts.append(f"superlative: {' '.join(word.split())}")
    parts += [f"name: {name}" for name in _names(sentence)]
    return parts


_CALENDAR = frozenset(w.casefold() for w in _MONTHS.split("|")) | frozenset(
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
)


def _names(sentence: str) -> list[str]:
    """Capitalised names as written (``World Health Organization``), not a sentence's first word
    alone, not month or day names (dates are their own part)."""
    names: list[str] = []
    for m in _NAME.finditer(sentence):
        words = [w for w in m.group(0).split() if w.casefold() not in STOP_WORDS]
        at_start = not sentence[: m.start()].strip(" \"'(*_-#>0123456789.")
        if not words or (at_start and len(m.group(0).split()) == 1 and not m.group(0).isupper()):
            continue
        if all(w.casefold().rstrip(".") in _CALENDAR for w in words):
            continue
        names.append(" ".join(words))
    return list(dict.fromkeys(names))


def is_conclusion(heading: str) -> bool:
    return bool(_CONCLUSION.search(heading))


def uncited_claim(
    sentence: str, *, conclusion: bool = False, cited: Iterable[str] = (), computed: Iterable[str] = ()
) -> list[str]:
    """Why ``sentence``, which cites nothing, should have: its checkable parts (see
    :func:`checkable_parts`), or ``[]`` when it asserts nothing checkable or is exempt.

    Exempt: questions, introductions (of a section, of a list), sentences about the report
    itself (its references, its method), and a figure the run computed: every number of the
    sentence is in ``computed`` (the run's Python outputs), which stand behind it as a source
    would. ``conclusion``: the sentence is in a concluding section, where hedged sentences and
    restatements of what ``cited`` (the report's cited sentences) already says are exempt too.
    """
    text = " ".join(sentence.split())
    if len(text.split()) < MIN_CLAIM_WORDS or text.endswith(("?", ":")) or text.startswith("|"):
        return []
    if _INTRODUCES.match(text) or _ABOUT_THE_REPORT.search(text):
        return []
    parts = checkable_parts(text)
    percents = " ".join(m.group(0) for m in _PERCENT.finditer(text))
    numbers = set(significant_numbers(text)) | set(numbers_in(percents))
    if numbers and not any(p.startswith("superlative") for p in parts):
        outputs: set[str] = set()
        for output in computed:
            outputs |= numbers_in(output, lenient=True).keys()
        if outputs and numbers <= outputs:
            return []
    if not parts or not conclusion:
        return parts
    if _HEDGES.search(text):
        return []
    said = normalize_text(" ".join(cited))
    facts = [p.split(": ", 1)[1] for p in parts if not p.startswith("superlative")]
    restated = all(normalize_text(f) in said for f in facts) and all(
        canon in numbers_in(" ".join(cited)) for canon in significant_numbers(text)
    )
    return [] if restated else parts
