"""``pivotrec serve INDEX [--host 127.0.0.1] [--port 8000]``: load the models once, then answer over HTTP."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.text import Text

from pivotrec.pipeline import progress
from pivotrec.pipeline.errors import PluginLoadError

console = Console(stderr=True)


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = sub.add_parser("serve", help="serve an index over HTTP: /search, /recommend, /health, OpenAPI, and a page at /")
    parser.add_argument("index", help="index folder written by 'pivotrec index'")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    # Off by default: formatting and writing a line per request took 7%% of the service's Python time at 140 requests/s.
    parser.add_argument("--access-log", action="store_true", help="print a line per request (method, path, status)")
    parser.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from pivotrec.pipeline.serve.app import create_app
        from pivotrec.pipeline.serve.threads import one_thread_per_kernel
    except ImportError as exc:
        raise PluginLoadError(f"pivotrec serve needs FastAPI, uvicorn and threadpoolctl: pip install 'pivotrec[serve]' ({exc})") from exc
    from pivotrec.pipeline.index.search import IndexSearcher
    from pivotrec.pipeline.index.store import open_index

    one_thread_per_kernel()
    stored = open_index(Path(args.index))
    searcher = IndexSearcher(stored)
    console.print(Text(f"loading {stored.folder} ({len(stored.documents):,} items): models load once, now"), highlight=False)
    searcher.warm_up()
    # A request's text is one small batch: a progress bar per request would only fill the log and cost time.
    progress.set_enabled(False)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        console.print(Text(f"warning: binding {args.host}: the service has no authentication", style="yellow"), highlight=False)
    # POST /items and DELETE /items/{id} update the index folder, not a single version inside it.
    root = Path(args.index) if (Path(args.index) / "CURRENT").is_file() else None
    uvicorn.run(create_app(searcher, root), host=args.host, port=args.port, log_level="info", access_log=args.access_log)
    return 0
