"""Report outputs: markdown and a self-contained, sanitised HTML page."""

from __future__ import annotations

import base64
import contextlib
import errno
import functools
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markdown_it import MarkdownIt

from agentkit.report._html import environment
from agentkit.report.cite import Numbering, iter_claims, rewrite, strip_sentinels
from agentkit.report.models import ClaimCheck, Report, Verification
from agentkit.report.verify import checkable_parts

if TYPE_CHECKING:
    import jinja2
    from markupsafe import Markup

_SAFE_URL = re.compile(r"^(?:https?://|mailto:)[^\s\"'<>`]*$", re.IGNORECASE)
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_FIGURE_BYTES = 16 * 1024 * 1024
"""Larger "figures" are not read (the sandbox saves at most 8 MB per figure)."""
_CITE = re.compile("\ue000(\\d+)(u?)\ue001")
_UNCITED = "\ue000nc\ue001"
_HIGHLIGHT = re.compile("\ue002(\\d+)\ue003")
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


def _highlight(text: str, mark: int, after: str = "") -> str:
    m = re.match(r"^(\s*(?:(?:[-*+>]|\d+[.)])\s+)?)(.*?)(\s*)$", text, re.DOTALL)
    if not m or not m.group(2):
        return text
    return f"{m.group(1)}\ue002{mark}\ue003{m.group(2)}\ue002/\ue003{after}{m.group(3)}"


@functools.cache
def _templates() -> jinja2.Environment:
    env = environment("agentkit.report", filters={"date": _date, "safe_url": safe_url})
    env.globals.update(UNSUPPORTED_MARK=UNSUPPORTED_MARK, UNCITED_MARK=UNCITED_MARK)
    return env


def _section_html(report: Report, s_index: int, md: MarkdownIt) -> Markup:
    """A section's markdown as HTML, with links to its citations and the marks of weak,
    unsupported, uncited and removed ones (the macros of ``templates/_marks.html``)."""
    from markupsafe import Markup

    marks: Any = _templates().get_template("_marks.html").module  # its macros, as attributes
    section = report.sections[s_index]
    numbers = {r.source_id: r.number for r in report.references}
    numbering, gone = marking_numbers(numbers, report.verification.removed_citations)
    claims = {c.sentence: c for c in report.verification.claims if c.section == s_index}
    by_index = {i: claims.get(seg.plain) for i, seg in iter_claims(section.raw)}
    highlights: list[tuple[str, str]] = []  # (css class, tooltip) of each highlighted claim, by its number

    def unsupported(i: int, sid: str) -> bool:
        claim = by_index.get(i)
        return bool(claim and any(c.source_id == sid and c.verdict == "unsupported" for c in claim.citations))

    def highlight(i: int, text: str) -> str:
        claim = by_index.get(i)
        if claim is None or claim.verdict == "supported":
            return text
        highlights.append(("unsupported" if claim.verdict == "unsupported" else "weak", why(claim)))
        return _highlight(text, len(highlights) - 1, "" if claim.citations else _UNCITED)

    source = rewrite(section.raw, numbering, unsupported, lambda n, u: f"\ue000{n}{'u' if u else ''}\ue001", highlight)
    rendered = md.render(source)

    def cite(m: re.Match[str]) -> str:
        n = int(m.group(1))
        return str(marks.removed(removed_mark(gone[n])) if n in gone else marks.cite(n, bool(m.group(2))))

    rendered = _CITE.sub(cite, re.sub("[ \t]+(?=\ue000)", "", rendered))
    rendered = rendered.replace(_UNCITED, str(marks.uncited()))
    rendered = _HIGHLIGHT.sub(lambda m: str(marks.highlight_open(*highlights[int(m.group(1))])), rendered)
    rendered = rendered.replace("\ue002/\ue003", "</mark>")
    # Markup (report.html prints it as is): markdown-it escaped the text (raw HTML off, links
    # only through safe_url, images off), the marks are the macros' (their arguments escaped),
    # and the sentinels are the renderer's alone (the writer strips them from all input).
    return Markup(strip_sentinels(rendered))


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


def render_html(report: Report) -> str:
    """A single self-contained HTML page (inline CSS, figures as ``data:`` URIs, no scripts),
    from ``templates/report.html``."""
    md = _markdown_it()
    sections = [{"heading": s.heading, "html": _section_html(report, i, md)} for i, s in enumerate(report.sections)]
    figures = []
    for path in report.figures:
        data = read_figure(path)
        figures.append({"png": base64.b64encode(data).decode("ascii") if data else "", "name": Path(path).name})
    doubtful = [(c, why(c)) for c in report.verification.claims if c.verdict != "supported"]
    page = _templates().get_template("report.html")
    return page.render(
        report=report,
        sections=sections,
        figures=figures,
        summary_rows=summary_rows(report.verification),
        doubtful=doubtful,
    )


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
