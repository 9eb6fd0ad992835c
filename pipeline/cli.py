"""The ``pivotrec`` command line: run, prepare, validate, plugins, eval, compare, datasets, models."""

from __future__ import annotations

import argparse
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pivotrec.pipeline import progress, registry
from pivotrec.pipeline.config import load_config
from pivotrec.pipeline.evaluation.compare import DEFAULT_METRICS
from pivotrec.pipeline.evaluation.metrics import parse_metric
from pivotrec.pipeline.errors import Interrupted, PivotrecError
from pivotrec.pipeline.index import cli as index_cli
from pivotrec.pipeline.records import Recommendation
from pivotrec.pipeline.serve import cli as serve_cli

console = Console()
errors = Console(stderr=True)

#: C0 and C1 control characters (newline and tab aside) and the bidirectional overrides and
#: isolates. Printed raw, a catalogue's text or id could clear the screen, retitle the
#: terminal, plant hyperlinks or reorder what is shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with every control character shown as its escape (ESC as ``\\x1b``)."""
    return _CONTROL.sub(lambda found: ascii(found.group())[1:-1], text)


def say(line: str) -> None:
    """Print one line of data-bearing text: control characters escaped, no markup read from it."""
    console.print(Text(printable(line)), highlight=False, soft_wrap=True)


def _recommendation_table(recommendations: Sequence[Recommendation], per_user: int) -> Table:
    table = Table(title="Recommendations", show_lines=False)
    for column in ("user", "#", "item", "lang", "score", "original", "pivot"):
        table.add_column(column, overflow="fold")
    for rec in recommendations:
        if rec.rank <= per_user:
            pivot = rec.pivot if rec.pivot != rec.original else "(same)"
            table.add_row(*(Text(printable(v)) for v in (rec.user_id, str(rec.rank), rec.item_id, rec.lang, f"{rec.score:.4f}", rec.original, pivot)))
    return table


def cmd_run(args: argparse.Namespace) -> int:
    from pivotrec.pipeline.runner import Pipeline

    config = load_config(args.config)
    if args.output:
        config = config.model_copy(update={"output": Path(args.output)})
    result = Pipeline(config).run_files()
    if args.show:
        console.print(_recommendation_table(result.recommendations, args.show))
    for line in result.summary.lines():
        say(line)
    if config.output:
        say(f"recommendations written to {config.output}")
    if config.documents_path:
        say(f"item documents written to {config.documents_path}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    say(f"{args.config}: valid ({len(config.rankers)} ranker(s); no model was loaded)")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    """Plain lines (not a table) so long import errors are never cut and output greps well."""
    for kind, group in registry.GROUPS.items():
        infos = registry.installed(kind)
        print(f"{group} ({len(infos)})")
        width = max((len(i.name) for i in infos), default=0)
        for info in infos:
            try:
                registry.load(kind, info.name)
                status = "ok"
            except PivotrecError as exc:
                status = f"FAILED: {exc}"
            dist = f"{info.distribution} {info.version}" if info.distribution else "(unknown distribution)"
            print(printable(f"  {info.name:<{width}}  {dist}  {status}"))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from pivotrec.pipeline.evaluation.compare import compare
    from pivotrec.pipeline.evaluation.report import build, write_report

    metrics: list[str] = args.metrics
    dataset, arms = compare([Path(c) for c in args.configs], Path(args.dataset), metrics, quiet=args.quiet, isolate=not args.in_process)
    data = build(dataset, arms, metrics)
    paths = write_report(Path(args.out), data)
    table = Table(title=Text(printable(f"{dataset.name}: {len(dataset.queries)} queries, {len(dataset.items)} items")))
    table.add_column("system")
    for metric in metrics:
        table.add_column(metric, justify="right")
    table.add_column("seconds", justify="right")
    for system in data["systems"]:
        table.add_row(Text(printable(system["name"])), *(f"{system['metrics'][m]:.4f}" for m in metrics), f"{system['cost']['seconds_total']:.1f}")
    console.print(table)
    say("report: " + ", ".join(str(p) for p in paths.values()))
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from pivotrec.pipeline.prepare import prepare_catalogue
    from pivotrec.pipeline.runner import Pipeline

    config = load_config(args.config)
    if args.documents:
        config = config.model_copy(update={"documents": Path(args.documents).absolute()})
    prepared = prepare_catalogue(Pipeline(config))
    if prepared.resumed_chunks:
        say(f"resumed after the {prepared.resumed_chunks} chunk(s) an interrupted prepare had finished")
    for line in prepared.summary.lines():
        say(line)
    say(f"documents written to {prepared.documents} (complete: see {prepared.manifest})")
    return 0


def cmd_datasets_prepare(args: argparse.Namespace) -> int:
    from pivotrec.pipeline.evaluation.datasets import load_dataset, prepare_sib200, prepare_xquad_r

    prepare: Callable[..., Path] = prepare_xquad_r if args.name == "xquad-r" else prepare_sib200
    # Unset options keep each converter's own default (split: all for xquad-r, test for sib200).
    options: dict[str, object] = {}
    if args.split:
        options["split"] = args.split
    if args.languages:
        options["languages"] = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    out = prepare(Path(args.source), Path(args.out), **options)
    dataset = load_dataset(out)
    rows = sum(len(grades) for grades in dataset.qrels.values())
    say(f"{dataset.name} written to {out}: {len(dataset.items):,} items, {len(dataset.queries):,} queries, {rows:,} qrels rows")
    return 0


def cmd_models_convert(args: argparse.Namespace) -> int:
    from pivotrec.pipeline.model_store import ct2_model

    folder = ct2_model(args.model, args.revision, quantization=args.quantization)
    say(f"{args.model} ({args.quantization}) is ready for CTranslate2 in {folder}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pivotrec", description="Cross-language recommendation and retrieval through a pivot language.")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="on an error, also print the traceback")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a config: read items and users, write recommendations")
    run.add_argument("config", help="YAML config file")
    run.add_argument("-o", "--output", help="JSONL output path (overrides the config's 'output')")
    run.add_argument("--show", type=int, default=3, metavar="N", help="print the top N per user in a table (0: none; default 3)")
    run.set_defaults(handler=cmd_run)

    stream = sub.add_parser("prepare", help="stream a catalogue into pivot documents chunk by chunk (normalise, detect, translate, encode)")
    stream.add_argument("config", help="YAML config file (input.items, documents, chunk_size)")
    stream.add_argument("--documents", help="JSONL output path (overrides the config's 'documents')")
    stream.set_defaults(handler=cmd_prepare)

    validate = sub.add_parser("validate", help="check a config without loading any model")
    validate.add_argument("config")
    validate.set_defaults(handler=cmd_validate)

    plugins = sub.add_parser("plugins", help="list installed plugins per entry-point group")
    plugins.set_defaults(handler=cmd_plugins)

    for name, help_text, nargs in (("eval", "evaluate one config on a labelled dataset", 1), ("compare", "compare configs on a labelled dataset; writes Markdown, HTML and JSON", "+")):
        evaluate = sub.add_parser(name, help=help_text)
        evaluate.add_argument("configs", nargs=nargs, metavar="CONFIG", help="YAML config(s); the first is the baseline for significance tests")
        evaluate.add_argument("--dataset", required=True, help="dataset folder: items.jsonl, queries.jsonl, qrels.tsv (see 'pivotrec datasets')")
        evaluate.add_argument("--metrics", type=_metrics, default=",".join(DEFAULT_METRICS), help="comma-separated NAME@K; the first is the primary metric")
        evaluate.add_argument("--out", default="out/report", help="folder for report.md, report.html, report.json")
        evaluate.add_argument("--in-process", action="store_true", help="run arms in this process (faster start; peak memory is then shared)")
        evaluate.set_defaults(handler=cmd_compare)

    datasets = sub.add_parser("datasets", help="convert public labelled datasets into pivotrec's dataset layout")
    datasets_sub = datasets.add_subparsers(dest="action", required=True)
    prepare = datasets_sub.add_parser("prepare", help="convert XQuAD-R (or other LAReQA-style data) or SIB-200")
    prepare.add_argument("name", choices=["xquad-r", "sib200"])
    prepare.add_argument("source", help="folder of the original files, e.g. ../shared/data/xquad_r (xquad-r: any set of <lang>.json files)")
    prepare.add_argument("out", help="output folder")
    prepare.add_argument(
        "--split", choices=["dev", "test", "all"],
        help="dev to tune, test to report (disjoint): xquad-r by article (every third English article is dev), "
        "sib200 by its dev.tsv/test.tsv; all: everything (default: all for xquad-r, test for sib200)",
    )
    prepare.add_argument("--languages", help="comma-separated language codes to keep, e.g. de,en,zh (default: every language in SOURCE)")
    prepare.set_defaults(handler=cmd_datasets_prepare)

    models = sub.add_parser("models", help="prepare translation models ahead of a run")
    models_sub = models.add_subparsers(dest="action", required=True)
    convert = models_sub.add_parser("convert", help="convert a transformers model (Hugging Face id or folder) for CTranslate2")
    convert.add_argument("model", help="Hugging Face id (e.g. Helsinki-NLP/opus-mt-de-en) or local folder")
    convert.add_argument("--revision", help="Hub branch, tag or commit")
    convert.add_argument("--quantization", default="int8", choices=["int8", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16", "float32"])
    convert.set_defaults(handler=cmd_models_convert)
    index_cli.add_parser(sub)
    serve_cli.add_parser(sub)
    return parser


def _metrics(value: str) -> list[str]:
    """``--metrics``: every NAME@K checked before any work (argparse reports the error)."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("name at least one metric, e.g. ndcg@10")
    for name in names:
        try:
            parse_metric(name)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return names


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: TextIO | None = None, line: str | None = None) -> None:
    """Warnings as one ``warning:`` line, not Python's file:line and source."""
    errors.print(Text.assemble(("warning:", "bold yellow"), " ", printable(str(message))), highlight=False, soft_wrap=True)


def _error(message: str) -> None:
    errors.print(Text.assemble(("error:", "bold red"), " ", printable(message)), highlight=False, soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure ends in one ``error:`` message (and the traceback with ``--debug``)."""
    args = build_parser().parse_args(argv)
    progress.set_enabled(not args.quiet)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return int(args.handler(args))
        except (Exception, KeyboardInterrupt) as exc:
            if args.debug:
                traceback.print_exc()
            if isinstance(exc, PivotrecError):
                _error(str(exc))
                return 130 if isinstance(exc, Interrupted) else 2
            if isinstance(exc, KeyboardInterrupt):
                _error("interrupted; no output was replaced")
                return 130
            _error(f"{type(exc).__name__}: {exc} (unexpected: please report it; --debug shows the traceback)")
            return 1


if __name__ == "__main__":
    sys.exit(main())
