"""Citations in model-written markdown: find them by source id, split text into claims,
and rewrite ids into framework-assigned numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field

# ``[S1a2b3c4d]``, ``[S1a2b3c4d, Sdeadbeef]``, ``[S1a2b3c4d; ...]``, optionally followed by a link target
CITATION_GROUP = re.compile(r"\[\s*(S[0-9a-fA-F]{6,16}(?:\s*[,;]\s*S[0-9a-fA-F]{6,16})*)\s*\](?:\([^)\s]*\))?")
# numbered citations the model made up itself (``[1]``, ``[2, 3]``): the framework numbers
MODEL_NUMBERS = re.compile(r"\[\d{1,3}(?:\s*[,;–-]\s*\d{1,3})*\](?!\()")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+(?=[\"“(*_]*[A-Z0-9\[])")
_ONLY_CITATIONS = re.compile(r"^(?:\s*" + CITATION_GROUP.pattern + r"\s*[.,;]?)+\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_MARKUP = re.compile(r"^\s*(?:[-*+>]|\d+[.)]|#{1,6})\s+|\*\*|__|`")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")

SENTINEL_CHARS = "\ue000\ue001\ue002\ue003"
"""Private-use characters the HTML renderer uses as markers; stripped from all input text."""


def ids_in(group: re.Match[str]) -> list[str]:
    return ["S" + sid.strip()[1:].lower() for sid in re.split(r"[,;]", group.group(1))]


def strip_sentinels(text: str) -> str:
    return text.translate({ord(c): None for c in SENTINEL_CHARS})


@dataclass
class Segment:
    """A span of a section's text: a sentence (``claim``) or verbatim markup (code, headings)."""

    text: str
    claim: bool
    source_ids: list[str] = field(default_factory=list)

    @property
    def plain(self) -> str:
        """The sentence without citations or markdown markup (what is verified)."""
        text = MODEL_NUMBERS.sub("", CITATION_GROUP.sub("", self.text))
        text = _LINK.sub(r"\1", text)
        text = _MARKUP.sub("", text)
        text = " ".join(text.replace("*", "").split())
        return re.sub(r" ([.,;:!?])", r"\1", text)


def segments(markdown: str) -> list[Segment]:
    """Split ``markdown`` into sentences (per line; code fences and headings kept whole).

    Concatenating the segments' text gives back ``markdown`` exactly. A run of citations
    after a sentence's full stop (``Foo. [S1]``) belongs to that sentence.
    """
    out: list[Segment] = []
    in_fence = False
    for line in markdown.splitlines(keepends=True):
        if _FENCE.match(line):
            in_fence = not in_fence
            out.append(Segment(line, claim=False))
            continue
        if in_fence or line.lstrip().startswith("#") or not line.strip():
            out.append(Segment(line, claim=False))
            continue
        start = 0
        pieces: list[str] = []
        for m in _SENTENCE_END.finditer(line):
            pieces.append(line[start : m.end()])
            start = m.end()
        pieces.append(line[start:])
        for piece in pieces:
            if not piece:
                continue
            if out and out[-1].claim and _ONLY_CITATIONS.match(piece) and not out[-1].text.endswith("\n"):
                out[-1].text += piece
            else:
                out.append(Segment(piece, claim=True))
    for seg in out:
        if seg.claim:
            seg.source_ids = list(dict.fromkeys(sid for g in CITATION_GROUP.finditer(seg.text) for sid in ids_in(g)))
    return out


class Numbering:
    """Citation numbers in order of first use across the whole report."""

    def __init__(self, known: Collection[str]) -> None:
        self.known = known
        self.numbers: dict[str, int] = {}
        self.removed: list[str] = []

    def scan(self, markdown: str) -> None:
        """Assign numbers to the known ids of ``markdown`` and record the unknown ones."""
        for _, seg in iter_claims(markdown):
            for group in CITATION_GROUP.finditer(seg.text):
                for sid in ids_in(group):
                    if sid in self.known:
                        self.numbers.setdefault(sid, len(self.numbers) + 1)
                    else:
                        self.removed.append(sid)
            self.removed.extend(m.group(0) for m in MODEL_NUMBERS.finditer(CITATION_GROUP.sub("", seg.text)))


Marker = Callable[[int, bool], str]
"""Renders citation number ``n``; the flag says whether the citation is unsupported."""


def rewrite(
    markdown: str,
    numbering: Numbering,
    unsupported: Callable[[int, str], bool],
    marker: Marker,
    highlight: Callable[[int, str], str] | None = None,
) -> str:
    """Replace id citations with numbered markers; drop unknown ids and model-made numbers.

    ``unsupported(segment_index, source_id)`` says whether to mark a citation;
    ``highlight(segment_index, text)`` may wrap a claim's text (the HTML renderer's mark).
    """
    parts: list[str] = []
    for index, seg in enumerate(segments(markdown)):
        if not seg.claim:
            parts.append(seg.text)
            continue

        def replace(group: re.Match[str], index: int = index) -> str:
            nums = sorted({(numbering.numbers[s], s) for s in ids_in(group) if s in numbering.numbers})
            return "".join(marker(n, unsupported(index, sid)) for n, sid in nums)

        text = MODEL_NUMBERS.sub("", seg.text)
        text = CITATION_GROUP.sub(replace, text) if seg.source_ids else text
        if text != seg.text:
            text = re.sub(r"(?<=\S)[ \t]{2,}", " ", text)
            text = re.sub(r"(?<=\S)[ \t]+([.,;:!?])", r"\1", text)
        parts.append(highlight(index, text) if highlight else text)
    return "".join(parts)


def iter_claims(markdown: str) -> Iterator[tuple[int, Segment]]:
    for index, seg in enumerate(segments(markdown)):
        if seg.claim:
            yield index, seg
