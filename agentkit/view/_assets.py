"""The page's stylesheet and its one small script (inlined; the page's CSP allows that script
by its hash and nothing else)."""

from __future__ import annotations

import base64
import hashlib

CSS = """
:root{color-scheme:light;--fg:#1f2328;--muted:#656d76;--line:#d8dee4;--bg:#f6f8fa;--card:#fff;
--accent:#0b5cad;--ok:#1a7f37;--warn:#9a6700;--bad:#b42318;--violet:#8e5ea2;--orange:#d1603d}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif}
main{max-width:78rem;margin:0 auto;padding:1.5rem 1.25rem 4rem}
h1{font-size:1.45rem;margin:0 0 .25rem;word-break:break-all}
h2{font-size:1.1rem;margin:2rem 0 .6rem;padding-bottom:.25rem;border-bottom:1px solid var(--line)}
h3{font-size:.95rem;margin:.2rem 0 .4rem}
h4{font-size:.8rem;margin:.8rem 0 .25rem;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
a{color:var(--accent)}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
pre{white-space:pre-wrap;word-break:break-word;margin:0;background:var(--card);border:1px solid var(--line);
border-radius:6px;padding:.5rem .65rem;max-height:28rem;overflow:auto}
pre.task{font:inherit;font-size:14px;max-height:12rem}
.meta{color:var(--muted);margin:.2rem 0}
.meta b{color:var(--fg);font-weight:600}
.badge{display:inline-block;border-radius:999px;padding:0 .55rem;font-size:12px;font-weight:600;
vertical-align:middle;border:1px solid transparent;white-space:nowrap}
.status-finished{background:#dafbe1;color:var(--ok)}
.status-running{background:#ddf4ff;color:var(--accent)}
.status-stopped,.status-interrupted{background:#fff8c5;color:var(--warn)}
.status-failed{background:#ffebe9;color:var(--bad)}
.banner{border-radius:6px;padding:.6rem .8rem;margin:.8rem 0;border:1px solid}
.banner.live{background:#ddf4ff;border-color:#54aeff}
.banner.warn{background:#fff8c5;border-color:#d4a72c}
nav.toc{position:sticky;top:0;z-index:2;background:var(--bg);padding:.45rem 0;border-bottom:1px solid var(--line);
display:flex;flex-wrap:wrap;gap:.9rem;font-size:13px}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(22rem,1fr));gap:1rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.75rem .9rem;min-width:0}
.card:target,.step:target{outline:2px solid #54aeff}
svg.chart{width:100%;height:auto;display:block;background:#fff;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;width:100%;background:var(--card);font-size:13px}
th,td{border:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top;word-break:break-word}
th{background:#eef1f4}
td.verdict,td.nowrap{white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.toolbar{display:flex;gap:.6rem;align-items:center;flex-wrap:wrap;margin:.4rem 0 .8rem}
.toolbar input{flex:1 1 20rem;font:inherit;padding:.35rem .6rem;border:1px solid var(--line);border-radius:6px}
.toolbar button{font:inherit;font-size:13px;padding:.3rem .7rem;border:1px solid var(--line);border-radius:6px;
background:var(--card);cursor:pointer}
#q-count{color:var(--muted);font-size:13px}
.timeline{display:flex;flex-direction:column;gap:.3rem}
details.step{background:var(--card);border:1px solid var(--line);border-radius:6px}
details.step>summary{cursor:pointer;padding:.35rem .6rem;display:flex;gap:.7rem;align-items:baseline;flex-wrap:wrap}
details.step[open]>summary{border-bottom:1px solid var(--line);background:#f6f8fa}
.sn{font-weight:700;min-width:3.2rem}
.tools{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;flex:1 1 14rem;min-width:0;
overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.num{font-variant-numeric:tabular-nums;color:var(--muted);font-size:12.5px}
.body{padding:.3rem .8rem .8rem}
.call{border-left:3px solid #54aeff;padding:.1rem 0 .3rem .7rem;margin:.7rem 0}
.call.error{border-left-color:var(--bad)}
.call h3 code{font-size:12px;color:var(--muted);font-weight:400}
.call details{margin:.3rem 0}
.call details>summary{cursor:pointer;color:var(--muted);font-size:13px}
.effects{margin:.3rem 0;padding-left:1.2rem;color:#3d444d}
.fig img{max-width:100%;height:auto;border:1px solid var(--line);background:#fff;margin:.4rem 0}
.tag{display:inline-block;font-size:11.5px;padding:0 .4rem;border-radius:4px;background:#eef1f4;color:#3d444d}
.tag.err{background:#ffebe9;color:var(--bad)}
.tag.ans{background:#dafbe1;color:var(--ok)}
.mark{font-size:13px;border-radius:6px;padding:.3rem .6rem;border:1px dashed var(--line);color:#3d444d}
.mark>summary{cursor:pointer}
.mark.prune{border-color:var(--orange);background:#fff4ef}
.mark.summary{border-color:var(--violet);background:#f8f0fc}
.mark.window,.mark.error{border-color:var(--bad);background:#ffebe9}
.mark.plan{border-color:#54aeff;background:#f0f8ff}
.mark.notice,.mark.status{background:#fffbe6;border-color:#d4a72c}
.mark pre{margin-top:.4rem}
pre.diff .add{background:#dafbe1;display:block}
pre.diff .del{background:#ffebe9;display:block;text-decoration:line-through;color:#6e3630}
.card+.children{margin-top:.8rem}
.children{display:grid;grid-template-columns:repeat(auto-fill,minmax(19rem,1fr));gap:.8rem;align-items:start}
.children.nested{grid-template-columns:1fr;margin-top:.4rem}
.card h3{display:flex;justify-content:space-between;gap:.5rem;align-items:baseline}
.card pre{max-height:10rem}
.card details.steps>summary{cursor:pointer;margin-top:.5rem;color:var(--accent)}
.card .timeline{margin-top:.4rem}
.chosen{outline:2px solid var(--ok)}
.verdict-supported{color:var(--ok);font-weight:600}
.verdict-weak{color:var(--warn);font-weight:600}
.verdict-unsupported{color:var(--bad);font-weight:600}
.found a{white-space:nowrap}
footer{margin-top:3rem;color:var(--muted);font-size:12px}
"""

SCRIPT = """(function () {
  "use strict";
  var box = document.getElementById("q");
  if (!box) { return; }
  var count = document.getElementById("q-count");
  var steps = Array.prototype.slice.call(document.querySelectorAll("details.step"));
  var marks = Array.prototype.slice.call(document.querySelectorAll(".timeline > .mark"));
  var texts = steps.map(function (s) { return s.textContent.toLowerCase(); });
  function openAround(el) {
    for (var p = el.parentElement; p; p = p.parentElement) {
      if (p.tagName === "DETAILS") { p.open = true; }
    }
  }
  function filter() {
    var q = box.value.trim().toLowerCase();
    var shown = 0;
    for (var i = 0; i < steps.length; i++) {
      var hit = !q || texts[i].indexOf(q) !== -1;
      steps[i].hidden = !hit;
      if (hit) { shown += 1; if (q) { openAround(steps[i]); } }
    }
    for (var j = 0; j < marks.length; j++) { marks[j].hidden = q !== ""; }
    count.textContent = q ? shown + " of " + steps.length + " steps match" : steps.length + " steps";
    document.body.setAttribute("data-matches", String(shown));
  }
  function setAll(open) {
    steps.forEach(function (s) { if (!s.hidden) { s.open = open; } });
  }
  function showTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id ? document.getElementById(id) : null;
    if (!el) { return; }
    if (el.hidden) { box.value = ""; filter(); }
    if (el.tagName === "DETAILS") { el.open = true; }
    openAround(el);
    el.scrollIntoView();
  }
  // A page that reloads itself (agentkit view --watch) keeps the filter, the open steps and
  // the scroll position across the reload, in this tab's session storage.
  var key = "agentkit-view:" + location.pathname;
  function save() {
    var open = steps.filter(function (s) { return s.open; }).map(function (s) { return s.id; });
    try {
      sessionStorage.setItem(key, JSON.stringify({ q: box.value, open: open, y: window.scrollY }));
    } catch (e) { /* no storage here: nothing is kept */ }
  }
  function restore() {
    var kept = null;
    try { kept = JSON.parse(sessionStorage.getItem(key) || "null"); } catch (e) { kept = null; }
    if (!kept || typeof kept !== "object") { return null; }
    box.value = typeof kept.q === "string" ? kept.q : "";
    (Array.isArray(kept.open) ? kept.open : []).forEach(function (id) {
      var el = typeof id === "string" ? document.getElementById(id) : null;
      if (el && el.tagName === "DETAILS") { el.open = true; }
    });
    return typeof kept.y === "number" ? kept.y : null;
  }
  box.addEventListener("input", filter);
  document.getElementById("expand").addEventListener("click", function () { setAll(true); });
  document.getElementById("collapse").addEventListener("click", function () { setAll(false); });
  window.addEventListener("hashchange", showTarget);
  window.addEventListener("pagehide", save);
  var y = restore();
  filter();
  if (y !== null && !location.hash) { window.scrollTo(0, y); } else { showTarget(); }
})();
"""


def script_hash() -> str:
    """The CSP source that allows exactly :data:`SCRIPT`."""
    return "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
