"""Repairs to trafilatura's main text of an HTML page, measured by ``tools/bench/extract.py``.

- :func:`plain_markdown`: trafilatura (>= 2.3) escapes CommonMark syntax in markdown output
  (``snake\\_case``, ``\\[1\\]``, ``\\<The Palace>``, ``a \\*b\\*``, a paragraph starting ``\\-`` or
  ``1\\.``). The text is read by a model and quotations are checked against it, not rendered:
  a quote of "Choreographer_Jeong" must match the stored page. The escapes are undone
  outside code, where trafilatura adds none.
- :func:`standfirst`: the page's summary (its meta description) when the page shows it as
  text but the extraction dropped it, as trafilatura does with a teaser paragraph above the
  article ("entry-excerpt").
- :func:`publisher_body`: the article text the publisher embeds as schema.org ``articleBody``
  (JSON-LD), for a page whose extraction missed most of it (a photo caption instead of an
  article that scripts render).

Pure functions of text and a parsed lxml tree; synchronous and CPU-bound like the rest of
the extraction (callers run it in a worker thread).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any

MIN_STANDFIRST_WORDS = 8
MIN_PUBLISHER_WORDS = 50
COVERED = 0.5
"""A text counts as present in another when this share of its 3-word shingles is there."""

_FENCED = re.compile(r"^```[^\n]*\n.*?^```[ \t]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(?<!\\)(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
_INLINE_ESCAPE = re.compile(r"(\\+)([*_`~\[\]<])")
# a paragraph, list item or quote line whose first character trafilatura escaped
_BLOCK_ESCAPE = re.compile(r"^( {0,3}(?:> |(?:  )*(?:- |\d{1,9}\. ))?)(\d{0,9})\\([#>+\-.)])", re.MULTILINE)
_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…|\(\.\.\.\))\s*$")
_WORD = re.compile(r"\w+")
_INVISIBLE = frozenset({"script", "style", "noscript", "template", "head", "title", "meta", "link"})
_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre")


# -- markdown escapes ---------------------------------------------------------------------


def plain_markdown(markdown: str) -> str:
    """trafilatura's markdown with its CommonMark escapes undone (code left verbatim), NFC."""
    out: list[str] = []
    pos = 0
    for fence in _FENCED.finditer(markdown):
        out.append(_unescape_outside_spans(markdown[pos : fence.start()]))
        out.append(fence.group(0))
        pos = fence.end()
    out.append(_unescape_outside_spans(markdown[pos:]))
    return unicodedata.normalize("NFC", "".join(out)).strip()


def _unescape_outside_spans(text: str) -> str:
    out: list[str] = []
    pos = 0
    for span in _CODE_SPAN.finditer(text):
        out.append(_unescape(text[pos : span.start()]))
        out.append(span.group(0))
        pos = span.end()
    out.append(_unescape(text[pos:]))
    return "".join(out)


def _unescape(text: str) -> str:
    # trafilatura doubles the backslashes already before a special character, then adds one:
    # a run of 2k+1 backslashes stood for k literal ones
    text = _INLINE_ESCAPE.sub(lambda m: "\\" * (len(m.group(1)) // 2) + m.group(2), text)
    return _BLOCK_ESCAPE.sub(_unescape_block_start, text)


def _unescape_block_start(m: re.Match[str]) -> str:
    digits, mark = m.group(2), m.group(3)
    if (mark in ".)") != bool(digits):  # "1\." escapes an ordered-list marker; "\#", "\-" the others
        return m.group(0)
    return f"{m.group(1)}{digits}{mark}"


# -- comparing texts ------------------------------------------------------------------------


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.casefold())
    if len(words) < 3:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def coverage(part: str, whole: str) -> float:
    """The share of ``part``'s 3-word shingles found in ``whole`` (punctuation, quotes and
    case do not count)."""
    mine = _shingles(part)
    return len(mine & _shingles(whole)) / len(mine) if mine else 1.0


def visible_text(tree: Any) -> str:
    """The text a browser shows of a parsed page (no scripts, styles or head)."""
    body = tree.find(".//body") if tree is not None else None
    if body is None:
        return ""
    parts: list[str] = []
    for el in body.iter():
        if isinstance(el.tag, str) and el.tag not in _INVISIBLE and el.text:
            parts.append(el.text)
        if el is not body and el.tail:
            parts.append(el.tail)
    return " ".join(parts)


# -- what the extraction dropped -------------------------------------------------------------


def standfirst(description: object, body: str, title: str, shown: Callable[[], str]) -> str:
    """The page's description when it is a summary the page shows (``shown()``: its
    visible text) that the extracted ``body`` lacks, else ``""``."""
    if not isinstance(description, str):
        return ""
    lead = " ".join(description.split())
    if len(lead.split()) < MIN_STANDFIRST_WORDS:
        return ""
    probe = _ELLIPSIS.sub("", lead)  # a truncated description ("…") still matches its paragraph
    if coverage(probe, title) >= COVERED or coverage(probe, body) >= COVERED:
        return ""
    return lead if coverage(probe, shown()) >= 0.9 else ""


def publisher_body(tree: Any, body: str) -> str:
    """The page's JSON-LD ``articleBody`` when the extracted ``body`` holds little of it
    and is shorter, else ``""``. Pages that render the article with scripts carry it only
    there; the extraction then finds a caption or a teaser."""
    best = ""
    for script in tree.iterfind('.//script[@type="application/ld+json"]'):
        if script.text and "articleBody" in script.text:
            try:
                data = json.loads(script.text, strict=False)
            except (ValueError, RecursionError):
                continue
            for text in _article_bodies(data):
                if len(text) > len(best):
                    best = text
    if not best:
        return ""
    text = _render(best)
    if len(text.split()) < MIN_PUBLISHER_WORDS or len(text) <= len(body):
        return ""
    return "" if coverage(text, body) >= COVERED else text


def _article_bodies(node: Any, depth: int = 0) -> list[str]:
    found: list[str] = []
    if depth > 20:
        return found
    if isinstance(node, list):
        for item in node:
            found += _article_bodies(item, depth + 1)
    elif isinstance(node, dict):
        value = node.get("articleBody")
        if isinstance(value, str) and value.strip():
            found.append(value)
        for item in node.values():
            if isinstance(item, (list, dict)):
                found += _article_bodies(item, depth + 1)
    return found


def _render(raw: str) -> str:
    """Text of an ``articleBody`` value, which may be HTML: one paragraph per block."""
    if "<" not in raw or ">" not in raw:
        return "\n\n".join(" ".join(p.split()) for p in re.split(r"\n\s*\n", raw) if p.strip())
    import trafilatura

    root = trafilatura.load_html(f"<html><body>{raw}</body></html>")
    root = root.find(".//body") if root is not None else None
    if root is None:
        return ""
    blocks = [
        " ".join(el.text_content().split())
        for el in root.iter(*_BLOCKS)
        if not any(a.tag in _BLOCKS for a in el.iterancestors())
    ]
    blocks = [b for b in blocks if b]
    return "\n\n".join(blocks) if blocks else " ".join(root.text_content().split())
