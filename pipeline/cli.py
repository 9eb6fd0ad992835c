"""The ``pivotrec`` command line: run, prepare, validate, plugins, eval, compare, datasets, models."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO, cast

from rich.table import Table
from rich.text import Text

from pivotrec.pipeline import io, progress, registry
from pivotrec.pipeline.config import RunConfig, load_config
from pivotrec.pipeline.evaluation.compare import DEFAULT_METRICS
from pivotrec.pipeline.evaluation.metrics import parse_metric
from pivotrec.pipeline.errors import Interrupted, PivotrecError
from pivotrec.pipeline.index import cli as index_cli
from pivotrec.pipeline.languages import normalise_language
from pivotrec.pipeline.model_store import unavailable_error, unavailable_in
from pivotrec.pipeline.protocols import ChecksTranslationModels, Translator
from pivotrec.pipeline.serve import cli as serve_cli
from pivotrec.pipeline.terminal import console, errors, printable, recommendation_tables, say


def cmd_run(args: argparse.Namespace) -> int:
    from pivotrec.pipeline.index.reuse import pipeline_for

    config = load_config(args.config)
    if args.output:
        config = config.model_copy(update={"output": Path(args.output)})
    result = pipeline_for(config, args.index).run_files()
    if args.show:
        # Read again for their histories and interest texts (the run keeps only recommendations).
        users = io.load_users(config.input.users).records if config.input and config.input.users else []
        console.print(recommendation_tables(result.recommendations, result.documents, users, config, args.show))
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
    if args.models:
        languages = _languages(args.languages, config)
        problems, unrouted = _unavailable_models(config, languages)
        if unrouted and config.translator is not None:
            what = f"no translator here has a route for {', '.join(unrouted)} (Apertium modes and FreeDict dictionaries: make system-deps)"
            if config.translator.on_missing == "error":
                problems.append(f"{what}; with on_missing: error the run would stop")
            else:
                say(f"{what}: kept in the original language (on_missing: {config.translator.on_missing})")
        if problems:
            raise unavailable_error(problems)
        if languages or config.translator is None:
            say(f"every model is available here (translators checked for: {', '.join(languages) or 'none'}; nothing was loaded)")
        else:
            say("every detector and encoder model is available here; translators were not checked: no language is known "
                "(input.items declares none, the detector names none); name them with --languages, e.g. --languages de,fr")
    return 0


def _languages(option: list[str] | None, config: RunConfig) -> list[str]:
    """The source languages to check translators for: ``--languages``, else those the catalogue
    declares and those the detector is told it may answer (its ``languages`` option)."""
    if option:
        return option
    declared = {item.lang for item in io.load_items(config.input.items).records if item.lang} if config.input else set()
    detectable = getattr(config.detector.resolved.params, "languages", None) or []
    return sorted((declared | set(detectable)) - {config.pivot})


def _unavailable_models(config: RunConfig, languages: Sequence[str]) -> tuple[list[str], list[str]]:
    """Every model the config's plugins would load that is not here, and the languages no
    translator has a route for; plugins are built, never warmed up."""
    from pivotrec.pipeline.build import Builder

    builder = Builder()
    problems = unavailable_in((f"{ref.kind} {ref.plugin!r}", builder.build(ref)) for ref in (config.detector, *config.encoders()))
    translators = [config.translator, config.translator.fallback] if config.translator else []
    routed: set[str] = set()
    for ref in (ref for ref in translators if ref is not None):
        translator: Translator = builder.build(ref)
        served = [lang for lang in languages if translator.supports(lang, config.pivot)]
        routed.update(served)
        if isinstance(translator, ChecksTranslationModels):
            problems += [f"translator {ref.plugin!r}: {problem}" for problem in translator.unavailable_models(served, config.pivot)]
    return problems, [lang for lang in languages if lang not in routed]


def cmd_plugins(args: argparse.Namespace) -> int:
    """Plain lines (not a table) so long import errors are never cut and output greps well."""
    if args.name:
        return _describe_plugin(args.name)
    for kind, group in registry.GROUPS.items():
        infos = registry.installed(kind)
        print(f"{group} ({len(infos)})")
        width = max((len(i.name) for i in infos), default=0)
        for info in infos:
            try:
                said = registry.description(registry.load(kind, info.name))
            except PivotrecError as exc:
                said = f"FAILED: {exc}"
            print(printable(f"  {info.name:<{width}}  {said}  [{_distribution(info)}]"))
    print("pivotrec plugins NAME shows a plugin's options")
    return 0


def _distribution(info: registry.PluginInfo) -> str:
    return f"{info.distribution} {info.version}" if info.distribution else "unknown distribution"


def _describe_plugin(name: str) -> int:
    """Every plugin named ``name`` (one per kind): its description and its options."""
    for info in registry.find(name):
        cls = registry.load(info.kind, info.name)
        print(printable(f"{info.name}: {info.kind} plugin ({info.value}; {_distribution(info)})"))
        print(printable(registry.docstring(cls)))
        options = registry.options(cls)
        print("\noptions (its params: in a config):" if options else "\noptions: none")
        for option in options:
            print(printable(f"  {option.name}: {option.type}, " + ("required" if option.default is None else f"default {option.default}")))
            if option.doc:
                print(printable(f"      {option.doc}"))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from pivotrec.pipeline.evaluation.compare import arm_names, compare
    from pivotrec.pipeline.evaluation.report import build, write_report
    from pivotrec.pipeline.evaluation.significance import parse_pairs

    metrics: list[str] = args.metrics
    configs = [Path(c) for c in args.configs]
    # Checked before any arm runs: a typo must not cost a whole comparison.
    pairs = parse_pairs(args.pairs, arm_names(configs)) if args.pairs else None
    dataset, arms = compare(
        configs, Path(args.dataset), metrics, quiet=args.quiet, isolate=not args.in_process, fresh_caches=args.fresh_caches, index=getattr(args, "index", None)
    )
    data = build(dataset, arms, metrics, pairs)
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


def cmd_datasets_leave_last_out(args: argparse.Namespace) -> int:
    from pivotrec.pipeline.evaluation.leave_last_out import DROPPED_FILE, MIN_HISTORY, leave_last_out

    held_out = leave_last_out(Path(args.source), Path(args.out))
    say(f"leave-last-out dataset written to {held_out.out}: {held_out.users:,} users, each with their last history item held out")
    if held_out.dropped:
        say(f"{len(held_out.dropped):,} users with fewer than {MIN_HISTORY} history items dropped (listed in {held_out.out / DROPPED_FILE})")
    return 0


def cmd_models_convert(args: argparse.Namespace) -> int:
    from pivotrec.pipeline.model_store import ct2_model

    folder = ct2_model(args.model, args.revision, quantization=args.quantization)
    say(f"{args.model} ({args.quantization}) is ready for CTranslate2 in {folder}")
    return 0


class _Commands(argparse._SubParsersAction):
    """Subcommands whose one-line ``help`` is also what their own ``--help`` says, unless they have a description."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if kwargs.get("help"):
            kwargs.setdefault("description", kwargs["help"][0].upper() + kwargs["help"][1:] + ".")
        return super().add_parser(name, **kwargs)


class _Parser(argparse.ArgumentParser):
    """Every command and subcommand takes the global options too, so ``pivotrec run --quiet x.yaml``
    works as ``pivotrec --quiet run x.yaml``. A subcommand's copy defaults to SUPPRESS: left out,
    it keeps what the level above parsed rather than resetting it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _Commands)
        self.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")
        self.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="on an error, also print the traceback")


def _version() -> str:
    try:
        return importlib.metadata.version("pivotrec")
    except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
        return "unknown (not installed)"


def _dataset_options(parser: argparse.ArgumentParser) -> None:
    """What ``eval`` and ``compare`` both take: the labelled dataset, the metrics, where the report goes."""
    parser.add_argument("--dataset", required=True, help="dataset folder: items.jsonl, queries.jsonl, qrels.tsv (see 'pivotrec datasets')")
    parser.add_argument("--metrics", type=_metrics, default=",".join(DEFAULT_METRICS), help="comma-separated NAME@K; the first is the primary metric")
    parser.add_argument("--out", default="out/report", help="folder for report.md, report.html, report.json")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pivotrec", description="Cross-language recommendation and retrieval through a pivot language.")
    parser.set_defaults(quiet=False, debug=False)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    # Typed as plain parsers for the index and serve modules, which add their own commands.
    sub = cast("argparse._SubParsersAction[argparse.ArgumentParser]", parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))

    run = sub.add_parser(
        "run", help="run a config: read items and users, write recommendations",
        description="Run a config: read its items and users, write recommendations (JSONL), item documents and an errors file, "
        "and print each user's top recommendations (text, pivot text and how it got there, score, why) and a summary.",
    )
    run.add_argument("config", help="YAML config file")
    run.add_argument("-o", "--output", help="JSONL output path (overrides the config's 'output')")
    run.add_argument("--show", type=int, default=3, metavar="N", help="print the top N per user (0: none; default 3)")
    index_cli.add_index_option(run)
    run.set_defaults(handler=cmd_run)

    stream = sub.add_parser("prepare", help="stream a catalogue into pivot documents chunk by chunk (normalise, detect, translate, encode)")
    stream.add_argument("config", help="YAML config file (input.items, documents, chunk_size)")
    stream.add_argument("--documents", help="JSONL output path (overrides the config's 'documents')")
    stream.set_defaults(handler=cmd_prepare)

    validate = sub.add_parser(
        "validate", help="check a config without loading any model",
        description="Check a config: keys, plugin names, plugin options and input paths, every problem at once, loading no model. "
        "With --models, also check that every model its plugins would load is here.",
    )
    validate.add_argument("config", help="YAML config file")
    validate.add_argument("--models", action="store_true", help="also check that every model the config needs is available here (none is loaded)")
    validate.add_argument("--languages", type=_language_list, metavar="LANGS", help="with --models: source languages to check translators for, e.g. de,ja (default: those input.items declares)")
    validate.set_defaults(handler=cmd_validate)

    plugins = sub.add_parser(
        "plugins", help="list installed plugins, or show one plugin's options",
        description="List installed plugins per entry-point group, one line each; with NAME, describe that plugin and its options (type, default, meaning).",
    )
    plugins.add_argument("name", nargs="?", metavar="NAME", help="a plugin's name, e.g. marian")
    plugins.set_defaults(handler=cmd_plugins)

    evaluate = sub.add_parser(
        "eval", help="evaluate one config on a labelled dataset",
        description="Run one config over a labelled dataset's queries; print its metrics and write them to report.md, report.html and report.json.",
    )
    evaluate.add_argument("configs", nargs=1, metavar="CONFIG", help="YAML config file")
    _dataset_options(evaluate)
    evaluate.add_argument("--in-process", action="store_true", help="run in this process (faster start; the peak memory reported then includes this process)")
    index_cli.add_index_option(evaluate)
    evaluate.set_defaults(handler=cmd_compare, pairs=None, fresh_caches=False)

    compare = sub.add_parser("compare", help="compare configs on a labelled dataset; writes Markdown, HTML and JSON")
    compare.add_argument("configs", nargs="+", metavar="CONFIG", help="YAML config(s); the first is the baseline for significance tests")
    _dataset_options(compare)
    compare.add_argument("--in-process", action="store_true", help="run arms in this process (faster start; peak memory is then shared)")
    compare.add_argument("--fresh-caches", action="store_true", help="give every arm its own empty translation and embedding caches, so that arm order cannot change the cost")
    compare.add_argument(
        "--pairs", metavar="A:B,...",
        help="arm pairs to test for significance, by number (from 1, in CONFIG order) or name, e.g. 1:3,2:3 "
        "(default: each arm against the first, and the best translating arm against the best direct one)",
    )
    compare.set_defaults(handler=cmd_compare)

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
    held_out = datasets_sub.add_parser(
        "leave-last-out", help="hold out each user's last history item: a labelled dataset from ordered interactions",
        description="Read SOURCE/items.jsonl and SOURCE/users.jsonl (histories oldest first) and write a dataset for 'pivotrec eval' "
        "and 'compare': each user's last history item is the one relevant item, the items before it the history. "
        "Users with fewer than 2 history items are dropped and listed in OUT/dropped_users.txt.",
    )
    held_out.add_argument("source", help="folder with items.jsonl and users.jsonl")
    held_out.add_argument("out", help="output folder")
    held_out.set_defaults(handler=cmd_datasets_leave_last_out)

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


def _language_list(value: str) -> list[str]:
    """``--languages``: comma-separated codes, each checked and made canonical (``DE`` -> ``de``)."""
    try:
        return sorted({normalise_language(code) for code in value.split(",") if code.strip()})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
