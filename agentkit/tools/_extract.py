"""Turn downloaded bytes into readable text: charsets, HTML (trafilatura), PDF (pypdf), paging.

Everything here is synchronous and CPU-bound; callers run it in a worker thread.
"""

from __future__ import annotations

import codecs
import contextlib
import html as html_lib
import io
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from agentkit.tools._html_text import plain_markdown, publisher_body, standfirst, visible_text

DocKind = Literal["html", "pdf", "text", "json", "xml"]

MAX_PDF_PAGES = 1000

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# WHATWG: these labels mean windows-1252 on the web.
_AS_CP1252 = {"iso8859-1", "ascii", "cp1252"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_JSON_TYPES = {"application/json", "text/json"}
_XML_TYPES = {"application/xml", "text/xml", "application/rss+xml", "application/atom+xml"}


class ExtractionError(ValueError):
    """The document could not be turned into text."""


@dataclass
class Extracted:
    text: str
    title: str
    kind: DocKind
    content_type: str
    author: str | None = None
    date: str | None = None
    charset: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _codec_name(label: str | None) -> str | None:
    if not label:
        return None
    try:
        return codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _declared(data: bytes, codec: str) -> tuple[str, str] | None:
    """Decode with a declared charset, correcting the usual mislabelings."""
    if codec in ("utf-8", "utf-8-sig"):
        if _is_utf8(data):
            return data.decode("utf-8"), "utf-8"
        return None  # labelled UTF-8 but is not: detect
    if codec in _AS_CP1252 or codec.startswith("iso8859"):
        # Valid UTF-8 with non-ASCII bytes is almost never legacy text: the label is wrong.
        if not data.isascii() and _is_utf8(data):
            return data.decode("utf-8"), "utf-8"
        if codec in _AS_CP1252:
            codec = "cp1252"
    if codec.startswith(("utf-16", "utf-32")):
        return None  # declared wide encodings without a BOM are unreliable; detect
    return data.decode(codec, errors="replace"), codec


def decode_text(data: bytes, header_charset: str | None = None, *, markup: bool = False) -> tuple[str, str]:
    """Decode bytes to text: BOM, then the HTTP header charset, then ``<meta charset>`` /
    the XML declaration (``markup=True``), then detection. Returns ``(text, codec)``."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace"), codec
    labels = [header_charset]
    if markup:
        head = data[:8192]
        m = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
        if m:
            labels.append(m.group(1).decode("ascii", errors="replace"))
    for label in labels:
        declared = _codec_name(label)
        if declared is not None:
            got = _declared(data, declared)
            if got is not None:
                return got
    if _is_utf8(data):
        return data.decode("utf-8"), "utf-8"
    from charset_normalizer import from_bytes

    sample = data if len(data) <= 200_000 else data[:100_000] + data[-100_000:]
    codec = "cp1252"  # the web's default for undeclared legacy text
    if len(sample) >= 24:
        results = [r for r in from_bytes(sample) if not r.encoding.startswith(("utf_16", "utf_32"))]
        if results:
            best = min(results, key=lambda r: (r.chaos, -r.coherence))
            tied = {
                r.encoding for r in results if r.chaos <= best.chaos + 0.01 and r.coherence >= best.coherence - 0.01
            }
            if "cp1252" not in tied:
                codec = _codec_name(best.encoding) or codec
    return data.decode(codec, errors="replace"), codec


def classify(content_type: str, data: bytes) -> DocKind | None:
    """What kind of document the bytes are, from the media type and the first bytes."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    head = data[:1024].lstrip()
    if ctype == "application/pdf" or data[:5] == b"%PDF-":
        return "pdf"
    if ctype in _HTML_TYPES:
        return "html"
    if ctype in _JSON_TYPES or ctype.endswith("+json"):
        return "json"
    if ctype in _XML_TYPES or ctype.endswith("+xml"):
        return "xml"
    if ctype.startswith("text/"):
        return "text"
    if ctype in ("", "application/octet-stream", "binary/octet-stream", "application/unknown"):
        lowered = head[:200].lower()
        if lowered.startswith((b"<!doctype html", b"<html")) or b"<head" in lowered or b"<body" in lowered:
            return "html"
        if head[:1] in (b"{", b"[") and _looks_textual(data):
            return "json"
        if head.startswith(b"<?xml"):
            return "xml"
        if _looks_textual(data):
            return "text"
    return None


def _looks_textual(data: bytes) -> bool:
    sample = data[:4096]
    if b"\x00" in sample:
        return False
    control = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return control <= len(sample) // 100


def extract(data: bytes, content_type: str, url: str, header_charset: str | None = None) -> Extracted:
    """Extract readable text from a downloaded document (raises :class:`ExtractionError`)."""
    kind = classify(content_type, data)
    ctype = content_type.split(";", 1)[0].strip().lower() or "application/octet-stream"
    if kind is None:
        raise ExtractionError(f"unsupported content type {ctype}; fetch reads HTML, PDF, text, JSON and XML")
    if kind == "pdf":
        doc = extract_pdf(data)
    elif kind == "html":
        doc = extract_html(data, url, header_charset)
    else:
        text, codec = decode_text(data, header_charset, markup=kind == "xml")
        if kind == "json":
            text = _pretty_json(text)
        doc = Extracted(text=text.strip(), title=_title_from_url(url), kind=kind, content_type=ctype, charset=codec)
    doc.content_type = ctype
    if not doc.text.strip():
        raise ExtractionError("the document contains no readable text")
    return doc


def _pretty_json(text: str) -> str:
    if text.count("\n") > 3:
        return text
    try:
        return orjson.dumps(orjson.loads(text), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return text


def _title_from_url(url: str) -> str:
    tail = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return tail or url


def extract_html(data: bytes, url: str, header_charset: str | None = None) -> Extracted:
    """Main text of an HTML page as markdown, without navigation, banners, footers and
    comments (trafilatura), repaired where trafilatura loses text (:mod:`._html_text`):
    its markdown escapes are undone, a summary the page shows above the article leads,
    and an article the extraction missed is taken from the publisher's ``articleBody``."""
    import trafilatura

    text, codec = decode_text(data, header_charset, markup=True)
    text = _XML_DECL.sub("", text, count=1).replace("\x00", "")
    utf8 = text.encode("utf-8", errors="replace")
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    doc: Any = None
    tree: Any = None
    try:
        tree = trafilatura.load_html(utf8)
        if tree is not None:
            doc = trafilatura.bare_extraction(
                tree,
                url=url,
                output_format="python",
                with_metadata=True,
                include_comments=False,
                include_formatting=True,
                include_tables=True,
                include_links=False,
            )
    except Exception:  # trafilatura/lxml can fail on hostile markup; fall back below
        doc = None
    body = plain_markdown(doc.text or "") if doc is not None else ""
    title = (getattr(doc, "title", None) or "") if doc is not None else ""
    if tree is not None:
        with contextlib.suppress(Exception):  # a repair never costs the text already extracted
            body = _repaired(tree, body, getattr(doc, "description", None), title, b"articleBody" in utf8)
    if not body:
        body = _baseline(utf8)
    if not title:
        m = _TITLE.search(text[:200_000])
        title = " ".join(html_lib.unescape(m.group(1)).split()) if m else ""
    if not body:
        raise ExtractionError("no readable text could be extracted from the HTML page")
    return Extracted(
        text=body,
        title=title or _title_from_url(url),
        kind="html",
        content_type="text/html",
        author=(getattr(doc, "author", None) or None) if doc is not None else None,
        date=(getattr(doc, "date", None) or None) if doc is not None else None,
        charset=codec,
        meta={"sitename": doc.sitename} if doc is not None and getattr(doc, "sitename", None) else {},
    )


def _repaired(tree: Any, body: str, description: object, title: str, has_article_body: bool) -> str:
    """``body`` with what trafilatura dropped put back (see :mod:`._html_text`)."""
    if has_article_body:
        body = publisher_body(tree, body) or body
    lead = standfirst(description, body, title, lambda: visible_text(tree)) if body else ""
    return f"{lead}\n\n{body}" if lead else body


def _baseline(utf8: bytes) -> str:
    import trafilatura

    try:
        _, text, _ = trafilatura.baseline(utf8)
    except Exception:
        return ""
    return str(text or "").strip()


def extract_pdf(data: bytes) -> Extracted:
    """Text of a PDF with a ``[PDF page k]`` marker line before each page."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionError("the PDF is encrypted")
        n = len(reader.pages)
        parts: list[str] = []
        for i in range(min(n, MAX_PDF_PAGES)):
            try:
                page_text = reader.pages[i].extract_text() or ""
            except Exception as exc:  # one broken page should not lose the document
                page_text = f"(text of this page could not be extracted: {type(exc).__name__})"
            parts.append(f"[PDF page {i + 1}]\n{page_text.strip()}")
        if n > MAX_PDF_PAGES:
            parts.append(f"[… {n - MAX_PDF_PAGES} more pages not extracted]")
        info = reader.metadata
    except ExtractionError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise ExtractionError(f"the PDF could not be read: {exc}") from exc
    text = "\n\n".join(parts)
    if not any(p.split("\n", 1)[1].strip() for p in parts if "\n" in p):
        raise ExtractionError("the PDF has no extractable text (it may be scanned images)")
    title = author = date = None
    if info is not None:
        title = _clean(info.title)
        author = _clean(info.author)
        try:
            created = info.creation_date
        except (ValueError, TypeError):
            created = None
        date = created.date().isoformat() if created is not None else None
    if not title:
        first = next((ln.strip() for p in parts for ln in p.splitlines()[1:] if ln.strip()), "")
        title = first[:120]
    return Extracted(
        text=text,
        title=title or "PDF document",
        kind="pdf",
        content_type="application/pdf",
        author=author,
        date=date,
        meta={"pdf_pages": n},
    )


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def paginate(text: str, page_chars: int) -> list[str]:
    """Split text into pages of at most ``page_chars``, cutting at paragraph boundaries
    (else a line break, a sentence end, a space — a hard cut only as a last resort)."""
    text = text.strip()
    if len(text) <= page_chars:
        return [text]
    pages: list[str] = []
    start = 0
    floor = page_chars // 3
    while len(text) - start > page_chars:
        window = text[start : start + page_chars]
        cut = -1
        for sep in ("\n\n", "\n", ". ", " "):
            pos = window.rfind(sep)
            if pos >= floor:
                cut = pos + len(sep)
                break
        if cut <= 0:
            cut = page_chars
        page = text[start : start + cut].strip()
        if page:
            pages.append(page)
        start += cut
    rest = text[start:].strip()
    if rest:
        pages.append(rest)
    return pages
