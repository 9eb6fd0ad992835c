"""pivotrec serve: the HTTP service over an index, over real HTTP on 127.0.0.1, and its page."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install 'pivotrec[serve]'")
import httpx  # noqa: E402
import uvicorn  # noqa: E402

from pivotrec.pipeline.cli import build_parser  # noqa: E402
from pivotrec.pipeline.serve.app import MAX_BODY, MAX_TOP_K, create_app  # noqa: E402
from tests.served_index import ITEMS, USERS, warm_searcher  # noqa: E402

TIMEOUT = 30.0


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An index of a tiny catalogue served by uvicorn in a thread, on a free port of 127.0.0.1."""
    root = tmp_path_factory.mktemp("serve")
    searcher = warm_searcher(root)
    # IPPROTO_TCP named, as uvicorn's own sockets have it: asyncio then sets TCP_NODELAY on each
    # connection, and a response's body is not held back 40 ms behind its headers (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(searcher, root / "ix"), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    while not server.started:
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(TIMEOUT)
    sock.close()


def post(base: str, path: str, body: object) -> httpx.Response:
    return httpx.post(base + path, json=body, timeout=TIMEOUT)


def test_serve_binds_this_machine_only_by_default():
    args = build_parser().parse_args(["serve", "ix"])
    assert (args.host, args.port) == ("127.0.0.1", 8000)


def test_health_says_what_index_is_served(service):
    health = httpx.get(service + "/health", timeout=TIMEOUT).json()
    assert health["status"] == "ok" and (health["items"], health["users"]) == (len(ITEMS), len(USERS))
    assert health["rankers"] == ["bm25-fast", "dense"] and len(health["fingerprint"]) == 64


def test_openapi_describes_the_endpoints(service):
    spec = httpx.get(service + "/openapi.json", timeout=TIMEOUT).json()
    assert {"/search", "/recommend", "/health", "/users"} <= set(spec["paths"])
    assert "query" in spec["components"]["schemas"]["SearchRequest"]["properties"]


def test_a_search_in_another_language_returns_items_with_their_provenance_and_reasons(service):
    response = post(service, "/search", {"query": "reparar los frenos", "lang": "es", "top_k": 3})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["query"]["lang"] == "es" and data["query"]["original"] == "reparar los frenos"
    assert data["query"]["translation"]["translator"] == "identity"
    results = data["results"]
    assert 1 <= len(results) <= 3 and results[0]["item_id"] in {"es-bike", "en-bike"}
    first = results[0]
    assert {"lang", "original", "pivot", "translation", "ranker_scores", "explanations", "score", "rank"} <= set(first)
    assert set(first["ranker_scores"]) <= {"bm25-fast", "dense"} and first["explanations"]
    assert first["translation"]["from_lang"] == first["lang"]


def test_recommend_for_a_user_of_the_index_a_history_or_text(service):
    baker = post(service, "/recommend", {"user_id": "baker", "top_k": 2}).json()["results"]
    assert "de-bread" not in {r["item_id"] for r in baker}, "seen items are dropped"
    assert baker[0]["item_id"] == "en-bread"
    mixed = post(service, "/recommend", {"history": ["en-bike"], "text": "café", "lang": "fr"})
    assert mixed.status_code == 200 and mixed.json()["query"]["lang"] == "fr"


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/search", {"query": "x", "top_k": MAX_TOP_K + 1}, 422, "top_k"),
        ("/search", {"query": "x", "top_k": 0}, 422, "top_k"),
        ("/search", {"query": "   "}, 422, "query"),
        ("/search", {}, 422, "query"),
        ("/search", {"query": "x", "lang": "zz-nonsense"}, 422, "lang"),
        ("/search", {"query": "x", "colour": "red"}, 422, "colour"),
        ("/search", {"query": "x" * 5000}, 422, "query"),
        ("/recommend", {"history": ["en-bike", "nope"]}, 422, "history[1]"),
        ("/recommend", {"history": ["en-bike", 3]}, 422, "history[1]"),
        ("/recommend", {"user_id": "stranger"}, 404, "user_id"),
        ("/recommend", {}, 422, "body"),  # "body: ... give a 'user_id', a 'history', a 'text'"
    ],
)
def test_a_bad_request_gets_a_4xx_naming_the_field(service, path, body, status, field):
    response = post(service, path, body)
    assert response.status_code == status, response.text
    assert response.json()["error"].startswith(f"{field}: "), response.json()


def test_a_body_over_the_limit_is_refused_before_it_is_read(service):
    response = httpx.post(service + "/search", content=b"{" + b" " * MAX_BODY + b"}", headers={"content-type": "application/json"}, timeout=TIMEOUT)
    assert response.status_code == 413 and "body" in response.json()["error"]
    chunked = httpx.post(service + "/search", content=iter([b" " * 4096] * (MAX_BODY // 4096 + 2)), headers={"content-type": "application/json"}, timeout=TIMEOUT)
    assert chunked.status_code == 413, "a streamed body without a length is held to the same limit"


def test_concurrent_requests_get_the_same_answers_as_one_at_a_time(service):
    bodies = [{"query": q, "top_k": 4} for q in ("bicycle brakes", "pan de masa madre", "café filtre", "Brot", "coffee bread")] * 4
    alone = {json.dumps(b): [r["item_id"] for r in post(service, "/search", b).json()["results"]] for b in bodies[:5]}
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda b: post(service, "/search", b), bodies))
    assert all(r.status_code == 200 for r in responses)
    for body, response in zip(bodies, responses):
        assert [r["item_id"] for r in response.json()["results"]] == alone[json.dumps(body)]


def test_the_page_and_its_script_are_served_with_a_strict_policy(service):
    page = httpx.get(service + "/", timeout=TIMEOUT)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = httpx.get(service + "/page.js", timeout=TIMEOUT).text
    assert "innerHTML" not in script and "textContent" in script, "service text is never parsed as HTML"


def test_items_are_added_and_deleted_through_the_service(service):
    added = post(service, "/items", {"items": [{"id": "en-tea", "text": "Green tea steeped for two minutes.", "lang": "en"}]})
    assert added.status_code == 200, added.text
    assert (added.json()["added"], added.json()["deleted"]) == (1, 0)
    found = post(service, "/search", {"query": "té verde", "lang": "es", "top_k": 1}).json()["results"]
    assert found[0]["item_id"] == "en-tea"
    assert httpx.get(service + "/health", timeout=TIMEOUT).json()["items"] == len(ITEMS) + 1
    assert httpx.delete(service + "/items/en-tea", timeout=TIMEOUT).json()["deleted"] == 1
    assert "en-tea" not in {r["item_id"] for r in post(service, "/search", {"query": "green tea", "top_k": 10}).json()["results"]}
    missing = httpx.delete(service + "/items/en-tea", timeout=TIMEOUT)
    assert missing.status_code == 404 and missing.json()["error"].startswith("item_id: ")
    bad = post(service, "/items", {"items": [{"id": "x", "text": " "}]})
    assert bad.status_code == 422 and bad.json()["error"].startswith("items[0].text: ")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (used only to syntax-check the page's script)")
def test_the_page_script_parses(tmp_path):
    from pivotrec.pipeline.serve import page

    (tmp_path / "page.js").write_text(page.SCRIPT, encoding="utf-8")
    subprocess.run(["node", "--check", str(tmp_path / "page.js")], check=True, timeout=60)


FAKE_DOM = r"""
// A minimal DOM for the page script: elements keep their text and children; nothing parses HTML.
class Node {
  constructor(tag) { this.tag = tag; this.children = []; this.text = ""; this.dataset = {}; this.listeners = {}; this.value = ""; this.hidden = false; this.className = ""; }
  set textContent(v) { this.text = String(v); this.children = []; }
  get textContent() { return this.text + this.children.map((c) => c.textContent).join(""); }
  set innerHTML(v) { throw new Error("innerHTML used"); }
  append(...nodes) { this.children.push(...nodes); }
  replaceChildren(...nodes) { this.children = nodes; }
  addEventListener(type, fn) { this.listeners[type] = fn; }
  requestSubmit() { this.listeners.submit({ preventDefault() {} }); }
}
const ids = {};
globalThis.document = {
  createElement: (tag) => new Node(tag),
  getElementById: (id) => (ids[id] ||= new Node("#" + id)),
};
globalThis.location = { hash: "#q=" + encodeURIComponent(process.argv[2]) };
ids["top-k"] = new Node("input"); ids["top-k"].value = "5";
const replies = JSON.parse(require("fs").readFileSync(process.argv[3], "utf8"));
globalThis.fetch = async (path, options) => ({ ok: true, status: 200, json: async () => replies[path], path, options });
eval(require("fs").readFileSync(process.argv[4], "utf8"));
setTimeout(() => {
  const results = ids["results"].children.map((li) => ({ id: li.dataset.itemId, text: li.textContent, tags: li.children.map((c) => c.tag) }));
  console.log(JSON.stringify({ results, status: ids["status"].textContent, about: ids["about"].textContent, users: ids["user"].children.length }));
}, 200);
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (runs the page's script against a minimal DOM)")
def test_the_page_script_renders_results_as_text_only(service, tmp_path):
    """The page's script in node, with a DOM that refuses innerHTML, fed the live service's answers."""
    replies = {
        "/health": httpx.get(service + "/health", timeout=TIMEOUT).json(),
        "/users?limit=200": httpx.get(service + "/users?limit=200", timeout=TIMEOUT).json(),
        "/search": post(service, "/search", {"query": "bread coffee", "top_k": 5}).json(),
    }
    from pivotrec.pipeline.serve import page

    (tmp_path / "replies.json").write_text(json.dumps(replies), encoding="utf-8")
    (tmp_path / "page.js").write_text(page.SCRIPT, encoding="utf-8")
    (tmp_path / "dom.js").write_text(FAKE_DOM, encoding="utf-8")
    run = subprocess.run(["node", str(tmp_path / "dom.js"), "bread coffee", str(tmp_path / "replies.json"), str(tmp_path / "page.js")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    shown = json.loads(run.stdout)
    assert [r["id"] for r in shown["results"]] == [r["item_id"] for r in replies["/search"]["results"]]
    assert shown["users"] == len(USERS) and "items" in shown["about"] and "result(s)" in shown["status"]
    xss = next(r for r in shown["results"] if r["id"] == "xss")
    assert set(xss["tags"]) <= {"div", "span"} and "<script>alert" in xss["text"], "markup in an item is shown as text"


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed (headless page test needs Chromium; this test does not install it)")
def test_the_page_runs_a_query_in_headless_chromium(service, tmp_path):
    """Load the page, run a query through a URL-driven script, and read the rendered DOM."""
    # --dump-dom prints the DOM after load; the page script runs the query given in the URL hash.
    # Written under the test's folder: a test run never changes tracked files. PIVOTREC_UPDATE_SCREENSHOTS=1
    # copies it over docs/img/serve-page.png, the picture README shows.
    shot = tmp_path / "serve-page.png"
    subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000", f"--screenshot={shot}", "--window-size=1000,900", service + "/#q=frenos"],
        check=True, timeout=120, capture_output=True,
    )
    dom = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000", "--dump-dom", service + "/#q=frenos"],
        check=True, timeout=120, capture_output=True, text=True,
    ).stdout
    assert 'data-item-id="es-bike"' in dom or 'data-item-id="en-bike"' in dom
    assert "<img src=x" not in dom and "<script>alert" not in dom, "item text is shown as text, never as markup"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "the screenshot is a PNG"
    if os.environ.get("PIVOTREC_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, Path(__file__).resolve().parents[1] / "docs" / "img" / "serve-page.png")
