// The trace page's one script: the step filter, expand/collapse, and what a self-reloading page
// keeps across a reload. The page's CSP allows it by its hash, computed from this file when
// the page is made (agentkit/view/page.py), so edit it freely: nothing else to update.
(function () {
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
