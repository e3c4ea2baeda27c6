"""Report outputs: markdown and a self-contained, sanitised HTML page."""

from __future__ import annotations

import base64
import contextlib
import errno
import html
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from agentkit.report.cite import Numbering, iter_claims, rewrite, strip_sentinels
from agentkit.report.models import ClaimCheck, Report, Verification
from agentkit.report.verify import checkable_parts

_SAFE_URL = re.compile(r"^(?:https?://|mailto:)[^\s\"'<>`]*$", re.IGNORECASE)
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_FIGURE_BYTES = 16 * 1024 * 1024
"""Larger "figures" are not read (the sandbox saves at most 8 MB per figure)."""
_CITE = re.compile("\ue000(\\d+)(u?)\ue001")
_UNCITED = "\ue000nc\ue001"
_SOURCE_ID = re.compile(r"^S[0-9a-f]{6,16}$")

# One vocabulary in the text, the tables and the JSON: a claim's verdict is ``supported``, ``weak``
# or ``unsupported`` (the words of :class:`~agentkit.report.models.ClaimCheck`); a citation whose
# source does not support its sentence is marked ``unsupported``, a factual sentence without any
# citation ``unsupported: no citation``, a citation of an id that is no source of the run is
# replaced by ``citation removed: unknown source S…``.
UNSUPPORTED_MARK = "unsupported"
UNCITED_MARK = "unsupported: no citation"
_REMOVED_BASE = 1_000_000
"""Pseudo citation numbers for removed ids, so the rewrite leaves a mark where each one was."""


def removed_mark(source_id: str) -> str:
    return f"citation removed: unknown source {source_id}"


def marking_numbers(numbers: dict[str, int], removed: list[str]) -> tuple[Numbering, dict[int, str]]:
    """A numbering for rewriting a section: the references' numbers, plus a pseudo number for
    each removed source id (returned by number), so its place in the text gets a mark."""
    numbering = Numbering(numbers.keys())
    numbering.numbers = dict(numbers)
    gone: dict[int, str] = {}
    for sid in dict.fromkeys(r for r in removed if _SOURCE_ID.match(r) and r not in numbers):
        n = _REMOVED_BASE + len(gone)
        numbering.numbers[sid] = n
        gone[n] = sid
    return numbering, gone


def md_marker(gone: dict[int, str]) -> Callable[[int, bool], str]:
    """Markdown for citation ``n``: a link to its reference, marked when unsupported; the mark
    of a removed citation in its place."""

    def marker(n: int, unsupported: bool) -> str:
        if n in gone:
            return f" \\[{removed_mark(gone[n])}\\]"
        return f"[[{n}]](#ref-{n})" + (f"\\[{UNSUPPORTED_MARK}\\]" if unsupported else "")

    return marker


def md_uncited(text: str) -> str:
    """A sentence that cites nothing but asserts something checkable, marked at its end."""
    body = text.rstrip()
    return f"{body} \\[{UNCITED_MARK}\\]{text[len(body) :]}"


def why(claim: ClaimCheck) -> str:
    """The reasons for a claim's verdict, for the verification list and the HTML tooltips."""
    if not claim.citations:
        return "; ".join(["no citation", *checkable_parts(claim.sentence)])
    return "; ".join(r for c in claim.citations for r in c.reasons) or "low support"


def summary_rows(verification: Verification) -> list[tuple[str, int]]:
    """The verification table: the summary's counts under the report's own words."""
    rows = [(k.replace("_", " "), v) for k, v in verification.summary().items()]
    rows.insert(4, ("uncited claims", sum(1 for c in verification.claims if not c.citations)))
    return rows


def _date(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts)) if ts else "unknown date"


def _md_escape(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", " ".join(text.split()))


def safe_url(url: str) -> str | None:
    """``url`` if it is http(s)/mailto and harmless in an attribute, else ``None``."""
    url = url.strip()
    return url if _SAFE_URL.match(url) else None


def render_markdown(report: Report, figure_paths: Sequence[str] | None = None) -> str:
    """The report as markdown: sections, figures, references and the verification summary.

    ``figure_paths`` (default: ``report.figures``) are the image links; an empty one says the
    figure is not available."""
    out = [f"# {_md_escape(report.title)}", ""]
    for section in report.sections:
        out += [f"## {_md_escape(section.heading)}", "", section.markdown.strip(), ""]
    figures = list(figure_paths if figure_paths is not None else report.figures)
    if figures:
        out += ["## Figures", ""]
        for i, path in enumerate(figures, 1):
            if path:
                out.append(f"![Figure {i}]({path.replace(' ', '%20')})\n\n*Figure {i}*\n")
            else:
                out.append(f"*Figure {i}: image not available*\n")
    out += ["## References", ""]
    for ref in report.references:
        url = safe_url(ref.url)
        link = f"<{url}>" if url else f"`{ref.url.replace('`', '')}`"
        out.append(
            f"{ref.number}. {_md_escape(ref.title or ref.url)}. {link}. Retrieved {_date(ref.retrieved_at)}. "
            f"({ref.source_id})"
        )
    if not report.references:
        out.append("No sources were cited.")
    out += ["", "## Verification", "", "| Check | Count |", "|---|---|"]
    out += [f"| {label} | {v} |" for label, v in summary_rows(report.verification)]
    doubtful = [c for c in report.verification.claims if c.verdict != "supported"]
    if doubtful:
        out += ["", "Claims not (fully) supported by a cited source:", ""]
        for claim in doubtful:
            out.append(f"- **{claim.verdict}**: {_md_escape(claim.sentence)} ({_md_escape(why(claim))})")
    if report.verification.removed_citations:
        out += [
            "",
            "Removed citations (not sources of this run): "
            + ", ".join(f"`{c.replace('`', '')}`" for c in report.verification.removed_citations),
        ]
    if report.verification.unsourced_numbers:
        out += ["", "Numbers found in no source and no Python output:", ""]
        out += [
            f"- **{_md_escape(n.number)}** in: {_md_escape(n.sentence)}" for n in report.verification.unsourced_numbers
        ]
    return "\n".join(out).rstrip() + "\n"


def _markdown_it() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table").enable("strikethrough").disable("image")

    def validate(url: str) -> bool:
        return url.startswith("#") or safe_url(url) is not None

    md.validateLink = validate  # type: ignore[method-assign]

    def link_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        if not str(token.attrGet("href") or "").startswith("#"):
            token.attrSet("rel", "noopener noreferrer nofollow")
        return str(renderer.renderToken(tokens, idx, options, env))

    md.add_render_rule("link_open", link_open)
    return md


def _highlight(text: str, css: str, tip: str, after: str = "") -> str:
    m = re.match(r"^(\s*(?:(?:[-*+>]|\d+[.)])\s+)?)(.*?)(\s*)$", text, re.DOTALL)
    if not m or not m.group(2):
        return text
    return f"{m.group(1)}\ue002{css}|{tip}\ue003{m.group(2)}\ue002/\ue003{after}{m.group(3)}"


def _section_html(report: Report, s_index: int, md: MarkdownIt) -> str:
    section = report.sections[s_index]
    numbers = {r.source_id: r.number for r in report.references}
    numbering, gone = marking_numbers(numbers, report.verification.removed_citations)
    claims = {c.sentence: c for c in report.verification.claims if c.section == s_index}
    by_index = {i: claims.get(seg.plain) for i, seg in iter_claims(section.raw)}

    def unsupported(i: int, sid: str) -> bool:
        claim = by_index.get(i)
        return bool(claim and any(c.source_id == sid and c.verdict == "unsupported" for c in claim.citations))

    def highlight(i: int, text: str) -> str:
        claim = by_index.get(i)
        if claim is None or claim.verdict == "supported":
            return text
        tip = re.sub(r"[\ue000-\ue003|]", " ", why(claim))
        after = _UNCITED if not claim.citations else ""
        return _highlight(text, "unsupported" if claim.verdict == "unsupported" else "weak", tip, after)

    source = rewrite(section.raw, numbering, unsupported, lambda n, u: f"\ue000{n}{'u' if u else ''}\ue001", highlight)
    rendered = md.render(source)

    def cite(m: re.Match[str]) -> str:
        n = m.group(1)
        if int(n) in gone:
            return f' <span class="removed">[{html.escape(removed_mark(gone[int(n)]))}]</span>'
        title = "this source does not support the sentence"
        mark = f'<sup class="unsupported" title="{title}">{UNSUPPORTED_MARK}</sup>' if m.group(2) else ""
        return f'<a class="cite" href="#ref-{n}">[{n}]</a>{mark}'

    rendered = _CITE.sub(cite, re.sub("[ \t]+(?=\ue000)", "", rendered))
    badge = f'<sup class="unsupported" title="a checkable claim without a citation">{UNCITED_MARK}</sup>'
    rendered = rendered.replace(_UNCITED, badge)

    def mark_open(m: re.Match[str]) -> str:
        css, _, tip = m.group(1).partition("|")
        return f'<mark class="{css}" title="{html.escape(css + ": " + tip)}">'

    rendered = re.sub("\ue002([a-z]+\\|[^\ue003]*)\ue003", mark_open, rendered)
    rendered = rendered.replace("\ue002/\ue003", "</mark>")
    return strip_sentinels(rendered)


_CSS = """
:root{color-scheme:light}
body{margin:0;background:#fafaf7;color:#1f2328;font:17px/1.65 Georgia,'Iowan Old Style','Times New Roman',serif}
main{max-width:42rem;margin:0 auto;padding:3rem 1.25rem 5rem}
h1{font-size:2rem;line-height:1.2;margin:0 0 .3rem}
h2{font-size:1.35rem;margin:2.4rem 0 .6rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
h3{font-size:1.1rem;margin:1.6rem 0 .4rem}
h1,h2,h3,.meta,table,figcaption,.refs,sup.unsupported,span.removed{
font-family:system-ui,-apple-system,'Segoe UI',sans-serif}
.meta{color:#666;font-size:.85rem;margin-bottom:2rem}
a{color:#0b5cad}
a.cite{text-decoration:none;font-size:.8em;vertical-align:super;line-height:0;padding:0 .05em}
a.cite:hover{text-decoration:underline}
sup.unsupported{color:#b42318;font-size:.65em;font-weight:600;margin-left:.1em}
span.removed{color:#8a5a00;font-size:.75em;background:#fff4c2;padding:0 .2em}
mark.unsupported{background:#fde2e1;box-shadow:0 0 0 1px #f5b5b1;padding:0 .1em}
mark.weak{background:none;border-bottom:2px dotted #d4a72c}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.88em}
pre{background:#f0f0ec;padding:.8rem;overflow-x:auto;border-radius:4px}
blockquote{margin:1rem 0;padding-left:1rem;border-left:3px solid #ccc;color:#444}
table{border-collapse:collapse;width:100%;font-size:.85rem;margin:1rem 0}
th,td{border:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0ec}
td.num{text-align:right;font-variant-numeric:tabular-nums;width:5rem}
figure{margin:1.5rem 0;text-align:center}
figure img{max-width:100%;height:auto;border:1px solid #e5e5e5}
figcaption{font-size:.85rem;color:#555}
.refs{font-size:.88rem;padding-left:2rem}
.refs li{margin:.35rem 0;word-break:break-word}
.refs li:target{background:#fff4c2}
.sid{color:#888;font-family:ui-monospace,monospace;font-size:.8em}
.verdict-unsupported{color:#b42318;font-weight:600}
.verdict-weak{color:#9a6700;font-weight:600}
"""


def read_figure(path: str) -> bytes | None:
    """The PNG at ``path``, or ``None`` when it is not a PNG that is safe to read.

    Figures are written by sandboxed code's kernel into ``<work dir>/figures/``, a place the
    sandbox controls: it may have replaced the file or the ``figures`` dir by a link to a host
    file (``/proc/self/environ``, a key), a FIFO (which blocks a reader) or a huge file. So the
    file and its directory are opened without following links, relative to the work dir, and
    only a regular file of bounded size is read, through the descriptor that was checked.
    """
    norm = Path(os.path.normpath(os.path.abspath(path)))
    folder, name = norm.parent, norm.name
    if not name or not folder.name:
        return None
    try:
        root = os.open(folder.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    fd = -1
    try:
        sub = os.open(folder.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=root)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=sub)
        finally:
            os.close(sub)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FIGURE_BYTES:
            return None
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            data = fh.read(MAX_FIGURE_BYTES + 1)
    except OSError:
        return None
    finally:
        if fd >= 0:
            os.close(fd)
        os.close(root)
    return data if data.startswith(_PNG_MAGIC) and len(data) <= MAX_FIGURE_BYTES else None


def _figure_html(index: int, path: str) -> str:
    data = read_figure(path)
    caption = f"Figure {index}"
    if data is None:
        name = html.escape(Path(path).name)
        return f"<figure><figcaption>{caption}: image not available ({name})</figcaption></figure>"
    b64 = base64.b64encode(data).decode("ascii")
    return f'<figure><img src="data:image/png;base64,{b64}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'


def render_html(report: Report) -> str:
    """A single self-contained HTML page (inline CSS, figures as ``data:`` URIs, no scripts)."""
    md = _markdown_it()
    esc = html.escape
    body = [
        f"<h1>{esc(report.title)}</h1>",
        f'<p class="meta">Research report · {_date(report.created_at)} · {len(report.references)} sources · '
        f"{len(report.verification.claims)} claims checked</p>",
    ]
    for i, section in enumerate(report.sections):
        body.append(f"<section><h2>{esc(section.heading)}</h2>\n{_section_html(report, i, md)}</section>")
    if report.figures:
        body.append(
            "<section><h2>Figures</h2>"
            + "".join(_figure_html(i, p) for i, p in enumerate(report.figures, 1))
            + "</section>"
        )
    refs = []
    for ref in report.references:
        url = safe_url(ref.url)
        title = esc(ref.title or ref.url)
        target = (
            f'<a href="{esc(url)}" rel="noopener noreferrer nofollow">{title}</a>'
            if url
            else f"{title} <code>{esc(ref.url)}</code>"
        )
        refs.append(
            f'<li id="ref-{ref.number}" value="{ref.number}">{target}. Retrieved {_date(ref.retrieved_at)}. '
            f'<span class="sid">{esc(ref.source_id)}</span></li>'
        )
    ref_list = f'<ol class="refs">{"".join(refs)}</ol>' if refs else "<p>No sources were cited.</p>"
    body.append(f'<section><h2 id="references">References</h2>{ref_list}</section>')
    body.append(_verification_html(report))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        "style-src 'unsafe-inline'\">"
        f"<title>{esc(report.title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def _verification_html(report: Report) -> str:
    esc = html.escape
    v = report.verification
    rows = "".join(f'<tr><td>{esc(label)}</td><td class="num">{n}</td></tr>' for label, n in summary_rows(v))
    out = [
        f'<section><h2 id="verification">Verification</h2><table><tr><th>Check</th><th>Count</th></tr>{rows}</table>'
    ]
    doubtful = [c for c in v.claims if c.verdict != "supported"]
    if doubtful:
        out.append("<table><tr><th>Verdict</th><th>Claim</th><th>Why</th></tr>")
        for claim in doubtful:
            out.append(
                f'<tr><td class="verdict-{claim.verdict}">{claim.verdict}</td><td>{esc(claim.sentence)}</td>'
                f"<td>{esc(why(claim))}</td></tr>"
            )
        out.append("</table>")
    if v.removed_citations:
        out.append(
            "<p>Removed citations (not sources of this run): "
            + ", ".join(f"<code>{esc(c)}</code>" for c in v.removed_citations)
            + "</p>"
        )
    if v.unsourced_numbers:
        out.append(
            "<p>Numbers found in no source and no Python output:</p><ul>"
            + "".join(f"<li><strong>{esc(n.number)}</strong> in: {esc(n.sentence)}</li>" for n in v.unsourced_numbers)
            + "</ul>"
        )
    out.append("</section>")
    return "".join(out)


def save_report(report: Report, out_dir: Path, formats: Sequence[str] = ("md", "html")) -> list[Path]:
    """Write ``report.md`` (figures copied to ``figures/``) and/or ``report.html``; returns the paths.

    ``out_dir`` may be the run's work dir, which sandboxed code could fill with links: each
    file is written to a new temporary name and renamed into place, so a planted link is
    replaced, never followed. Only figures :func:`read_figure` accepts are copied.
    """
    unknown = set(formats) - {"md", "html", "json"}
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(sorted(unknown))}")
    out_dir.mkdir(parents=True, exist_ok=True)
    out_fd = os.open(out_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    written: list[Path] = []
    try:
        if "md" in formats:
            rel: list[str] = []
            figures_fd = -1
            try:
                for i, fig in enumerate(report.figures, 1):
                    data = read_figure(fig)
                    if data is None:
                        rel.append("")
                        continue
                    if figures_fd < 0:
                        figures_fd = _subdir(out_fd, "figures")
                    _write_new(figures_fd, f"figure-{i}.png", data)
                    rel.append(f"figures/figure-{i}.png")
            finally:
                if figures_fd >= 0:
                    os.close(figures_fd)
            _write_new(out_fd, "report.md", render_markdown(report, rel).encode())
            written.append(out_dir / "report.md")
        if "html" in formats:
            _write_new(out_fd, "report.html", render_html(report).encode())
            written.append(out_dir / "report.html")
        if "json" in formats:
            _write_new(out_fd, "report.json", report.model_dump_json(indent=2).encode())
            written.append(out_dir / "report.json")
    finally:
        os.close(out_fd)
    return written


def _subdir(dir_fd: int, name: str) -> int:
    """A descriptor of the real directory ``name`` in ``dir_fd``; whatever else has that name
    (a link, a file) is removed first."""
    for _ in range(3):
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o755, dir_fd=dir_fd)
        try:
            return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            os.unlink(name, dir_fd=dir_fd)
    raise OSError(errno.EEXIST, f"cannot make the directory {name!r}: something keeps taking its place")


def _write_new(dir_fd: int, name: str, data: bytes) -> None:
    """Write ``name`` in ``dir_fd`` as a new file, renamed over whatever had that name."""
    tmp = f".{name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
