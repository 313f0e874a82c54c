#include "agent/sinks/status_page.h"

namespace nodehealth::sinks {
namespace {

// Every value from /status reaches the page through textContent, never as markup.
constexpr std::string_view kPage = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>nodehealth</title>
<style>
:root{--red:#d92d20;--green:#12a150;--grey:#8a8f98;--amber:#e8a317;--line:#e3e5e8;--mute:#5f6b7a}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,sans-serif;background:#f4f5f7;color:#1d2127}
header{display:flex;gap:8px 20px;flex-wrap:wrap;align-items:baseline;padding:12px 24px;
 background:#1d2127;color:#fff}
h1{font-size:18px;margin:0}#meta{color:#c9ced6;flex:1}nav a{color:#9cc3ff;margin-left:14px}
#err{display:none;background:#fde8e7;color:var(--red);padding:8px 24px}
main{display:grid;gap:16px;padding:16px 24px;
 grid-template-columns:repeat(auto-fit,minmax(540px,1fr))}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 16px}
h2{font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:var(--mute);margin:4px 0 6px}
table{width:100%;border-collapse:collapse}td{padding:5px 6px;border-top:1px solid var(--line);
 vertical-align:top}td:first-child{white-space:nowrap}
.pill{display:inline-block;min-width:70px;text-align:center;border-radius:10px;padding:0 8px;
 color:#fff;font-weight:600;font-size:12px}
.True{background:var(--red)}.False{background:var(--green)}.Unknown{background:var(--grey)}
.m{color:var(--mute);font-size:12px}.r{text-align:right;white-space:nowrap}
.sig{padding:6px 0;border-top:1px solid var(--line)}.sig:first-of-type{border:0}
.bar{position:relative;height:12px;background:#eef0f3;border-radius:3px;margin:3px 0}
.fill{height:100%;border-radius:3px;background:var(--green)}.met .fill{background:var(--red)}
.near .fill{background:var(--amber)}
.mark{position:absolute;top:-3px;bottom:-3px;width:2px;background:#1d2127}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:6px}
.up{background:var(--green)}.down{background:var(--red)}
</style></head><body>
<header><h1>nodehealth <span id="node"></span></h1><span id="meta">loading /status...</span>
<nav><a href="/metrics">/metrics</a><a href="/status">/status</a>
<a href="/healthz">/healthz</a></nav>
</header><div id="err"></div>
<main>
<section><h2>Conditions</h2><table id="conditions"></table></section>
<section><h2>Eviction signals</h2><div id="signals"></div></section>
<section><h2>Recent events</h2><table id="changes"></table></section>
<section><h2>Sources</h2><table id="sources"></table></section>
<section><h2>Endpoints</h2><table>
<tr><td><a href="/metrics">/metrics</a><td>Prometheus metrics
<tr><td><a href="/status">/status</a><td>conditions and signals as JSON
<tr><td><a href="/healthz">/healthz</a><td>liveness of the sampling loop
</table></section>
</main>
<script>
"use strict";
const $ = id => document.getElementById(id);
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}
function row(table, cells) {
  const tr = table.insertRow();
  for (const c of cells) {
    const td = tr.insertCell();
    if (c instanceof Node) td.append(c); else td.textContent = c;
  }
  return tr;
}
function age(s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + "s";
  const m = Math.floor(s / 60), h = Math.floor(m / 60);
  if (m < 60) return m + "m";
  if (h < 48) return h + "h" + (m % 60 ? " " + (m % 60) + "m" : "");
  return Math.floor(h / 24) + "d";
}
const IEC = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
function amount(v, unit) {
  if (v == null) return "no data";
  if (unit !== "bytes") return Math.round(v).toLocaleString("en") + " " + unit;
  let a = Math.abs(v), i = 0;
  while (a >= 1024 && i < IEC.length - 1) { a /= 1024; i++; }
  return (v < 0 ? "-" : "") + (i ? a.toFixed(1) : a) + " " + IEC[i];
}
const known = s => ["True", "False", "Unknown"].includes(s) ? s : "Unknown";

function render(doc) {
  const sampled = Date.parse(doc.sampledAt);
  $("node").textContent = doc.node ? "\u00b7 " + doc.node : "";
  document.title = "nodehealth " + (doc.node || "");

  const count = {True: 0, False: 0, Unknown: 0};
  const ct = $("conditions");
  ct.replaceChildren();
  for (const c of doc.conditions) {
    const st = known(c.status), what = el("div");
    count[st]++;
    what.append(el("b", "", c.type), el("div", "m", c.reason + ": " + c.message));
    const tr = row(ct, [el("span", "pill " + st, st), what,
      "since " + age((sampled - Date.parse(c.lastTransitionTime)) / 1000)]);
    tr.className = "cond";
    tr.dataset.type = c.type;
    tr.dataset.status = st;
    tr.cells[2].className = "r m";
  }
  $("meta").textContent = "sampled " + age((Date.now() - sampled) / 1000) + " ago \u00b7 " +
    count.True + " True, " + count.Unknown + " Unknown, " + count.False + " False" +
    " \u00b7 refreshes every 5s";
  // The agent's own history (newest first): condition changes and OOM kills.
  const ch = $("changes");
  ch.replaceChildren();
  for (const e of doc.events || []) {
    const at = new Date(e.time).toLocaleTimeString("en-GB");
    if (e.kind === "ConditionChanged")
      row(ch, [at, e.type, el("span", "m", known(e.from) + " \u2192"),
        el("span", "pill " + known(e.to), known(e.to)), el("span", "m", e.reason)]);
    else
      row(ch, [at, e.kind, "", el("span", "pill True", e.reason), el("span", "m", e.message)]);
  }
  if (!ch.rows.length)
    row(ch, [el("span", "m", "no condition change or OOM kill since the agent started")]);

  const sg = $("signals");
  sg.replaceChildren();
  for (const s of doc.signals) {
    const box = el("div", "sig"), cap = s.capacity;
    const bar = el("div", "bar"), fill = el("div", "fill");
    const ths = (s.thresholds || []).filter(t => t.value != null);
    box.append(el("b", "", s.signal), el("span", "m", "  " + amount(s.available, s.unit) +
      (cap != null ? " available of " + amount(cap, s.unit) : "")));
    if (s.available != null && cap) {
      fill.style.width = Math.min(100, Math.max(0, 100 * s.available / cap)) + "%";
      bar.append(fill);
      for (const t of ths) {
        const mk = el("div", "mark");
        mk.style.left = Math.min(100, 100 * t.value / cap) + "%";
        mk.title = t.type + " threshold " + t.configured;
        bar.append(mk);
      }
      if (ths.some(t => t.met)) box.classList.add("met");
      else if (ths.some(t => (s.available - t.value) / cap < 0.05)) box.classList.add("near");
      box.append(bar);
    }
    const notes = ths.map(t => t.type + " threshold " + amount(t.value, s.unit) +
      (t.configured.endsWith("%") ? " (" + t.configured + ")" : "") +
      (t.gracePeriodMet ? ": met, evicting" : t.met ? ": met, grace period running" : ""));
    if (!ths.length) notes.push("no threshold");
    if (s.secondsUntilThreshold != null)
      notes.push("forecast to reach it in " + age(s.secondsUntilThreshold));
    box.append(el("div", "m", notes.join(" \u00b7 ")));
    sg.append(box);
  }

  const so = $("sources");
  so.replaceChildren();
  for (const s of doc.sources) {
    const name = el("span");
    name.append(el("span", "dot " + (s.up ? "up" : "down")), s.name);
    row(so, [name, s.up ? "up" : "down", (1000 * s.durationSeconds).toFixed(2) + " ms",
      el("span", "m", s.error || "")]);
  }
}

async function tick() {
  try {
    const r = await fetch("/status", {cache: "no-store"});
    if (r.status === 503) $("meta").textContent = "waiting for the first sample...";
    else if (!r.ok) throw new Error("HTTP " + r.status);
    else { render(await r.json()); $("err").style.display = "none"; }
  } catch (e) {
    $("err").textContent = "cannot read /status: " + e.message + " (the data shown is older)";
    $("err").style.display = "block";
  }
  setTimeout(tick, 5000);
}
tick();
</script>
<noscript>This page needs JavaScript; the same data is at <a href="/status">/status</a>.</noscript>
</body></html>
)html";

}  // namespace

std::string_view status_page_html() { return kPage; }

std::string_view status_page_csp() {
  return "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
         "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
}

}  // namespace nodehealth::sinks
