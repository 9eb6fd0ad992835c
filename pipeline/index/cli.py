"""``pivotrec index CONFIG [--out DIR] [--force] [--upsert ITEMS] [--delete IDS]``: build or update a persistent index."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:
    from pivotrec.pipeline.config import RunConfig

console = Console()


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = sub.add_parser("index", help="build a persistent index folder from a config (documents, vectors, ranker structures, fingerprint)")
    parser.add_argument("config", help="YAML config file (input.items; input.users optional)")
    parser.add_argument("--out", help="index folder (default: the config's 'index', else the config's path with .index instead of .yaml)")
    parser.add_argument("--force", action="store_true", help="rebuild even when the fingerprint matches")
    parser.add_argument("--upsert", metavar="ITEMS", help="add or replace these items (a catalogue file) in the existing index, without a rebuild")
    parser.add_argument("--delete", metavar="IDS", help="remove these item ids (one per line) from the existing index, without a rebuild")
    parser.set_defaults(handler=cmd_index)


def add_index_option(parser: argparse.ArgumentParser) -> None:
    """``--index DIR`` for ``run``: the persistent index folder to answer from (see ``reuse.pipeline_for``)."""
    parser.add_argument(
        "--index", metavar="DIR",
        help="answer from this persistent index folder: reused when its fingerprint matches the config and catalogue, else rebuilt there (overrides the config's 'index')",
    )


def cmd_index(args: argparse.Namespace) -> int:
    from pivotrec.pipeline.config import load_config
    from pivotrec.pipeline.index.store import build_index, default_folder

    config = load_config(args.config)
    root = Path(args.out) if args.out else config.index or default_folder(config)
    if args.upsert or args.delete:
        return _update(config, root, args)
    result = build_index(config, root, force=args.force)
    lines = result.summary.lines() if result.built else []
    lines += [f"{root}: {result.reason}; {result.items:,} items, fingerprint {result.fingerprint.digest[:12]}", f"serve it with: pivotrec serve {root}"]
    for line in lines:  # Text: paths and ids are never read as markup
        console.print(Text(line), highlight=False, soft_wrap=True)
    return 0


def _update(config: RunConfig, root: Path, args: argparse.Namespace) -> int:
    from pivotrec.pipeline import io
    from pivotrec.pipeline.errors import InputError
    from pivotrec.pipeline.index.fingerprint import fingerprint
    from pivotrec.pipeline.index.store import current_version, read_manifest
    from pivotrec.pipeline.index.update import read_ids, update_index

    if args.force:
        raise InputError("--force rebuilds the whole index; it cannot go with --upsert or --delete")
    current = current_version(root)
    if current is None:
        raise InputError(f"{root}: no index to update; build it first with 'pivotrec index {args.config} --out {root}'")
    # Updates go into an index built from this config: only the catalogue may differ.
    changed = [p for p in fingerprint(config).changes(read_manifest(current)["parts"]) if not p.startswith("input.")]
    if changed:
        raise InputError(f"{root}: built from another config (changed: {', '.join(changed)}); rebuild it with 'pivotrec index {args.config}'")
    upserts = io.read_items(args.upsert) if args.upsert else []
    deletes = read_ids(Path(args.delete)) if args.delete else []
    result = update_index(root, upserts, deletes)
    line = f"{root}: {result.added} added, {result.changed} changed, {result.unchanged} unchanged, {result.deleted} deleted; now {result.folder.name}"
    console.print(Text(line), highlight=False, soft_wrap=True)
    return 0
