"""The HTTP service over an index (FastAPI): search, recommend, item updates, health, OpenAPI and a page.

Every request is bounded: the body (``MAX_BODY`` bytes), texts
(``MAX_TEXT`` characters), histories (``MAX_HISTORY`` ids) and ``top_k``
(``MAX_TOP_K``). A bad request gets a 4xx whose ``error`` names the field
(``top_k: Input should be less than or equal to 100``). The models are
loaded once, before the first request; concurrent requests are answered
together in batches by the searcher (``IndexSearcher.answer``), one batch or
update at a time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pivotrec.pipeline.errors import InputError
from pivotrec.pipeline.index.search import Answer, IndexSearcher
from pivotrec.pipeline.index.update import UpdateResult, update_index
from pivotrec.pipeline.languages import LanguageCode
from pivotrec.pipeline.records import Document, Item, Recommendation, User
from pivotrec.pipeline.serve import page

#: Largest request body accepted, in bytes.
MAX_BODY = 64 * 1024
#: Longest query or user text, in characters.
MAX_TEXT = 4000
#: Most item ids in one request's history.
MAX_HISTORY = 500
#: Most results per request.
MAX_TOP_K = 100
#: Most items per ``POST /items``.
MAX_UPSERT = 100
#: Most users listed per ``GET /users`` page.
MAX_USERS_PAGE = 200

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=MAX_TEXT)

    #: Results wanted, best first.
    top_k: int = Field(10, ge=1, le=MAX_TOP_K)
    #: Ask every ranker why each result was chosen.
    explain: bool = True
    #: The text's language, if known (ISO 639 code); otherwise it is detected.
    lang: LanguageCode | None = None


def _text(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must contain some non-space text")
    return value


class SearchRequest(_Request):
    """A query in any language."""

    query: str = Field(min_length=1, max_length=MAX_TEXT, examples=["reparar frenos de bicicleta"])

    _check_query = field_validator("query")(_text)


class RecommendRequest(_Request):
    """A user of the index, a history of item ids, free text in any language, or any of them together."""

    #: A user from the index's users file: its history and text are used (the request's add to them).
    user_id: str | None = Field(None, min_length=1, max_length=200)
    #: Item ids the user interacted with, oldest first.
    history: list[str] = Field(default_factory=list, max_length=MAX_HISTORY)
    text: str | None = Field(None, max_length=MAX_TEXT)

    _check_text = field_validator("text")(_text)

    @model_validator(mode="after")
    def _something_given(self) -> "RecommendRequest":
        if self.user_id is None and not self.history and self.text is None:
            raise ValueError("give a 'user_id', a 'history', a 'text', or several of them")
        return self


class ItemIn(BaseModel):
    """One catalogue item to add or replace."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    #: Declared language (ISO 639 code); otherwise it is detected.
    lang: LanguageCode | None = None

    _check_text = field_validator("text")(_text)


class UpsertRequest(BaseModel):
    """Items to add or replace; only new or changed texts are translated and encoded."""

    model_config = ConfigDict(extra="forbid")
    items: list[ItemIn] = Field(min_length=1, max_length=MAX_UPSERT)


def _translation(doc: Document) -> dict[str, Any]:
    t = doc.translation
    return {
        "translator": t.translator, "model": t.model, "method": t.method, "from_lang": t.src_lang, "to_lang": t.tgt_lang,
        "cached": t.cached, "split": t.split, "kept_original": t.kept_original, "failed": t.failed, "suspicious": t.suspicious, "note": t.note,
    }


def _document(doc: Document) -> dict[str, Any]:
    confidence = doc.detection.confidence if doc.detection else None
    return {"lang": doc.lang, "detection_confidence": confidence, "original": doc.original, "pivot": doc.pivot, "translation": _translation(doc)}


def _result(rec: Recommendation, doc: Document) -> dict[str, Any]:
    return {
        "rank": rec.rank, "item_id": rec.item_id, "score": rec.score, **_document(doc),
        "ranker_scores": dict(rec.ranker_scores), "explanations": list(rec.explanations),
    }


def _updated(result: UpdateResult) -> dict[str, Any]:
    return {"added": result.added, "changed": result.changed, "unchanged": result.unchanged, "deleted": result.deleted, "version": result.folder.name}


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "history", 3)`` → ``history[3]``."""
    out = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path") else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes (413), declared or streamed, before the app sees them.

    The body is read here (at most ``limit`` bytes are held) and handed on
    whole, so a chunked upload cannot get past the limit either.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(send, self.limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _too_large(send, self.limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"error": f"body: larger than {limit} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(searcher: IndexSearcher, root: Path | None = None) -> FastAPI:
    """The service over a searcher; call ``searcher.warm_up()`` before serving so models load at start-up.

    With ``root`` (the index folder the searcher opened) ``POST /items`` and
    ``DELETE /items/{item_id}`` update that index in place, each as a new
    version switched to atomically.
    """
    manifest = searcher.stored.manifest
    app = FastAPI(
        title="pivotrec",
        version="1",
        description="Cross-language search and recommendation over a pivotrec index. Texts may be in any language.",
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{_field(e['loc'])}: {e['msg']}" for e in exc.errors()]
        detail = [{"field": _field(e["loc"]), "message": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse({"error": "; ".join(problems), "detail": detail}, status_code=422)

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    def respond(answer: Answer, started: float) -> Response:
        # Plain JSON values, encoded once here in the request's worker thread: FastAPI's own
        # serialization of a returned dict walks it again (about a fifth of the service's own CPU per request),
        # and by orjson, several times faster than json.dumps (a tenth of the service's Python time per search).
        return Response(orjson.dumps({
            "query": _document(answer.query) if answer.query is not None else None,
            "results": [_result(r, answer.documents[r.item_id]) for r in answer.recommendations],
            "took_ms": round((time.perf_counter() - started) * 1000, 2),
        }), media_type="application/json")

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Whether the service is up, and what index it serves."""
        return {
            "status": "ok", "items": len(searcher.documents), "users": len(searcher.users), "pivot": manifest.get("pivot"),
            "rankers": [r["label"] for r in manifest["rankers"]], "fingerprint": manifest.get("fingerprint"), "built": manifest.get("created"),
        }

    @app.post("/search", response_model=dict[str, Any])
    def search(request: SearchRequest) -> Response:
        """The items that best match a query in any language."""
        started = time.perf_counter()
        answer = searcher.answer(User("query", request.query, (), request.lang), request.top_k, request.explain)
        return respond(answer, started)

    @app.post("/recommend", response_model=dict[str, Any])
    def recommend(request: RecommendRequest) -> Response:
        """Items for a user of the index, a history of item ids, and/or free text in any language."""
        started = time.perf_counter()
        history: tuple[str, ...] = tuple(request.history)
        text, lang, user_id = request.text, request.lang, request.user_id or "request"
        if request.user_id is not None:
            known = searcher.users.get(request.user_id)
            if known is None:
                raise HTTPException(404, f"user_id: no user {request.user_id!r} in the index")
            history = known.history + history
            if text is None:
                text, lang = known.text, lang or known.lang
        unknown = searcher.unknown_items(request.history)
        if unknown:
            raise HTTPException(422, f"history[{unknown[0]}]: item {request.history[unknown[0]]!r} is not in the index")
        answer = searcher.answer(User(user_id, text, history, lang), request.top_k, request.explain)
        return respond(answer, started)

    if root is not None:
        index_root = root

        @app.post("/items")
        def upsert_items(request: UpsertRequest) -> dict[str, Any]:
            """Add or replace items; the index on disk and the service are updated together."""
            items = [Item(i.id, i.text, i.lang) for i in request.items]
            return _updated(update_index(index_root, items, (), searcher))

        @app.delete("/items/{item_id}")
        def delete_item(item_id: str) -> dict[str, Any]:
            """Remove one item from the index and the service."""
            if item_id not in searcher.documents:
                raise HTTPException(404, f"item_id: no item {item_id!r} in the index")
            return _updated(update_index(index_root, (), [item_id], searcher))

    @app.get("/users")
    def users(offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=MAX_USERS_PAGE)) -> dict[str, Any]:
        """Users of the index (for the page's picker): id, a short text and history length."""
        page_of = list(searcher.users.values())[offset : offset + limit]
        return {
            "total": len(searcher.users),
            "users": [{"id": u.id, "text": (u.text or "")[:120], "history": len(u.history)} for u in page_of],
        }

    @app.get("/", include_in_schema=False)
    def index_page() -> HTMLResponse:
        return HTMLResponse(page.HTML, headers=page.HEADERS)

    @app.get("/page.js", include_in_schema=False)
    def page_script() -> Response:
        return Response(page.SCRIPT, media_type="text/javascript", headers=page.HEADERS)

    @app.get("/page.css", include_in_schema=False)
    def page_style() -> Response:
        return Response(page.STYLE, media_type="text/css", headers=page.HEADERS)

    app.add_middleware(BodyLimit, limit=MAX_BODY)
    return app
