"""The page served at ``/``: plain HTML, a stylesheet and a little script, no build step.

Everything the service returns is put on the page with ``textContent`` (never
as HTML), and the Content-Security-Policy allows only this page's own script
and style, so an item's text cannot run code in the reader's browser.
"""

from __future__ import annotations

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pivotrec</title>
<link rel="stylesheet" href="/page.css">
<script src="/page.js" defer></script>
</head>
<body>
<header><h1>pivotrec</h1><p id="about">loading the index...</p></header>
<main>
<section class="ask">
  <form id="search-form">
    <label for="query">Search in any language</label>
    <div class="row">
      <input id="query" name="query" type="search" maxlength="4000" placeholder="e.g. reparar frenos de bicicleta" required>
      <input id="lang" name="lang" maxlength="12" placeholder="lang (auto)" title="the query's language code; empty: detected">
      <button id="search-button" type="submit">Search</button>
    </div>
  </form>
  <form id="user-form">
    <label for="user">...or pick a user</label>
    <div class="row">
      <select id="user" name="user"></select>
      <button id="recommend-button" type="submit">Recommend</button>
    </div>
  </form>
  <label for="top-k">results <input id="top-k" type="number" min="1" max="100" value="10"></label>
</section>
<p id="status" role="status"></p>
<section id="query-info" hidden></section>
<ol id="results"></ol>
</main>
<footer>API: <a href="/docs">/docs</a> (OpenAPI at <a href="/openapi.json">/openapi.json</a>)</footer>
</body>
</html>
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem; color: #222; }
h1 { margin: 0; } #about, footer, .meta { color: #666; font-size: 0.9rem; }
form { margin: 0.6rem 0; } label { display: block; font-weight: 600; margin-bottom: 0.2rem; }
.row { display: flex; gap: 0.4rem; } #query { flex: 1; } #lang { width: 7rem; } #user { flex: 1; }
input, select, button { font: inherit; padding: 0.3rem; } #top-k { width: 4rem; }
#status.error { color: #b00020; }
#query-info { background: #f4f4f8; padding: 0.5rem; border-radius: 4px; }
#results li { margin: 0.8rem 0; padding-bottom: 0.6rem; border-bottom: 1px solid #ddd; }
.original { font-size: 1.05rem; } .pivot { color: #225; } .why { color: #363; font-size: 0.9rem; }
.tag { display: inline-block; background: #e8e8f0; border-radius: 3px; padding: 0 0.3rem; margin-right: 0.3rem; font-size: 0.85rem; }
"""

SCRIPT = r"""
"use strict";
// Every value from the service goes into the page through textContent: never parsed as HTML.
function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}
function how(t) {
  if (!t) return "";
  if (t.translator === "none" || t.from_lang === t.to_lang) return "already in the pivot language";
  const parts = [t.translator + (t.method ? " (" + t.method + ")" : "")];
  if (t.model) parts.push("model " + t.model);
  if (t.cached) parts.push("from the cache");
  if (t.kept_original) parts.push("kept in the original language");
  if (t.failed) parts.push("translation failed");
  if (t.note) parts.push(t.note);
  return t.from_lang + " \u2192 " + t.to_lang + ": " + parts.join(", ");
}
function status(text, isError) {
  const node = document.getElementById("status");
  node.textContent = text;
  node.className = isError ? "error" : "";
}
function showQuery(q) {
  const box = document.getElementById("query-info");
  box.replaceChildren();
  if (!q) { box.hidden = true; return; }
  box.hidden = false;
  box.append(el("span", q.lang, "tag"), el("span", q.original, "original"));
  if (q.pivot !== q.original) box.append(el("div", "pivot: " + q.pivot, "pivot"));
  box.append(el("div", how(q.translation), "meta"));
}
function showResults(data) {
  showQuery(data.query);
  const list = document.getElementById("results");
  list.replaceChildren();
  for (const r of data.results) {
    const item = el("li");
    item.dataset.itemId = r.item_id;
    const head = el("div");
    head.append(el("span", r.lang, "tag"), el("span", r.item_id, "tag"), el("span", "score " + r.score.toFixed(4), "meta"));
    item.append(head, el("div", r.original, "original"));
    if (r.pivot !== r.original) item.append(el("div", "pivot: " + r.pivot, "pivot"));
    item.append(el("div", "translated: " + how(r.translation), "meta"));
    const scores = Object.entries(r.ranker_scores).map(([name, s]) => name + " " + s.toFixed(4)).join(", ");
    item.append(el("div", "per ranker: " + scores, "meta"));
    for (const why of r.explanations) item.append(el("div", "why: " + why, "why"));
    list.append(item);
  }
  status(data.results.length + " result(s) in " + data.took_ms + " ms", false);
}
async function ask(path, body) {
  status("working...", false);
  try {
    const response = await fetch(path, {method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body)});
    const data = await response.json();
    if (!response.ok) { status("error " + response.status + ": " + (data.error || JSON.stringify(data)), true); return; }
    showResults(data);
  } catch (error) {
    status("request failed: " + error, true);
  }
}
function topK() { return parseInt(document.getElementById("top-k").value, 10) || 10; }
document.getElementById("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const body = {query: document.getElementById("query").value, top_k: topK()};
  const lang = document.getElementById("lang").value.trim();
  if (lang) body.lang = lang;
  ask("/search", body);
});
document.getElementById("user-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const user = document.getElementById("user").value;
  if (user) ask("/recommend", {user_id: user, top_k: topK()});
});
async function start() {
  try {
    const health = await (await fetch("/health")).json();
    document.getElementById("about").textContent =
      health.items + " items, " + health.users + " users, pivot " + health.pivot + ", rankers: " + health.rankers.join(", ");
    const users = await (await fetch("/users?limit=200")).json();
    const select = document.getElementById("user");
    for (const u of users.users) {
      const option = el("option", u.id + (u.text ? " \u2014 " + u.text : "") + (u.history ? " (" + u.history + " seen)" : ""));
      option.value = u.id;
      select.append(option);
    }
    document.getElementById("user-form").hidden = users.users.length === 0;
  } catch (error) {
    status("cannot reach the service: " + error, true);
  }
}
start().then(() => {
  // "#q=some text" runs that search on load: a link to a query, and how headless tests drive the page.
  if (location.hash.startsWith("#q=")) {
    document.getElementById("query").value = decodeURIComponent(location.hash.slice(3));
    document.getElementById("search-form").requestSubmit();
  }
});
"""
