"""A tiny multilingual catalogue and its index, warm, for the tests of the service and its searcher."""

from __future__ import annotations

import json
from pathlib import Path

from pivotrec.pipeline.config import load_config
from pivotrec.pipeline.index.search import IndexSearcher
from pivotrec.pipeline.index.store import build_index, open_index

ITEMS = [
    {"id": "en-bike", "text": "Repairing bicycle brakes at home.", "lang": "en"},
    {"id": "es-bike", "text": "Cómo reparar los frenos de la bicicleta.", "lang": "es"},
    {"id": "de-bread", "text": "Ein Rezept für Sauerteigbrot.", "lang": "de"},
    {"id": "en-bread", "text": "Baking sourdough bread with a starter.", "lang": "en"},
    {"id": "fr-coffee", "text": "Préparer un bon café filtre.", "lang": "fr"},
    # Entities are decoded once by the clean stage: the stored text holds real markup characters.
    {"id": "xss", "text": "Coffee &lt;img src=x onerror=alert(1)&gt; bread &lt;script&gt;alert(2)&lt;/script&gt;", "lang": "en"},
]
USERS = [{"id": "cyclist", "text": "bicycle brakes", "lang": "en"}, {"id": "baker", "history": ["de-bread"]}]


def warm_searcher(root: Path) -> IndexSearcher:
    """Write the catalogue and a config (BM25 and USE) under ``root``, index them in ``root/ix``, and open it, warm."""
    (root / "items.jsonl").write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in ITEMS), encoding="utf-8")
    (root / "users.jsonl").write_text("".join(json.dumps(u) + "\n" for u in USERS), encoding="utf-8")
    (root / "run.yaml").write_text(
        "input: {items: items.jsonl, users: users.jsonl}\ntranslator: {plugin: identity}\nembedding_cache: emb.sqlite\n"
        "encoder: {plugin: use}\nrankers: [{plugin: bm25-fast}, {plugin: dense}]\n",
        encoding="utf-8",
    )
    build_index(load_config(root / "run.yaml"), root / "ix")
    searcher = IndexSearcher(open_index(root / "ix"))
    searcher.warm_up()
    return searcher
