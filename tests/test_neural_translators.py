"""MarianMT and NLLB through CTranslate2 and transformers, on tiny models built here."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

pytest.importorskip("ctranslate2")
pytest.importorskip("sentencepiece")
pytest.importorskip("transformers")

from pivotrec.pipeline import model_store  # noqa: E402
from pivotrec.pipeline.errors import TranslationError  # noqa: E402
from pivotrec.pipeline.model_store import ModelUnavailableError, ct2_model, resolve_source  # noqa: E402
from pivotrec.pipeline.stages import TranslateStage  # noqa: E402
from pivotrec.pipeline.stages.translate import NamedTranslator  # noqa: E402
from pivotrec.pipeline.translation_cache import TranslationCache  # noqa: E402
from pivotrec.plugins.translators.identity import IdentityTranslator  # noqa: E402
from pivotrec.plugins.translators.marian import MarianTranslator  # noqa: E402
from pivotrec.plugins.translators.nllb import NLLBTranslator  # noqa: E402
from pivotrec.plugins.translators.seq2seq import LanguageCodes, Seq2SeqEngine, Seq2SeqParams, resolve_compute_type  # noqa: E402

from .tiny_models import build_marian, build_nllb  # noqa: E402

SENTENCES = ["El gato come pescado.", "La casa es grande hoy y mañana.", "Río", "Niño y niña en la escuela con música."]
#: Greedy float32 decoding: both engines must pick the same token at every step.
EXACT = dict(device="cpu", beam_size=1, no_repeat_ngram_size=0, max_length_ratio=1.5, max_length_offset=4)
#: A fixed output bound, so a sentence translates the same alone or beside longer ones
#: (random weights never stop early: the output length is the bound).
FIXED = dict(device="cpu", compute_type="float32", beam_size=1, max_decoding_length=6)


@pytest.fixture(scope="module")
def tiny_marian(tmp_path_factory) -> Path:
    return build_marian(tmp_path_factory.mktemp("marian") / "opus-mt-tiny-es-en")


@pytest.fixture(scope="module")
def tiny_nllb(tmp_path_factory) -> Path:
    return build_nllb(tmp_path_factory.mktemp("nllb") / "nllb-tiny")


def marian(folder: Path, **options) -> MarianTranslator:
    return MarianTranslator(MarianTranslator.Params(routes={"es": str(folder)}, manifest=False, fallback_model=None, **options))


@pytest.mark.parametrize("kind", ["marian", "nllb"])
def test_backends_agree_token_for_token_in_float32_greedy(kind, tiny_marian, tiny_nllb):
    folder, codes = (tiny_marian, LanguageCodes()) if kind == "marian" else (tiny_nllb, LanguageCodes("spa_Latn", "eng_Latn"))
    ct2 = Seq2SeqEngine(str(folder), Seq2SeqParams(backend="ctranslate2", compute_type="float32", **EXACT))
    hf = Seq2SeqEngine(str(folder), Seq2SeqParams(backend="transformers", **EXACT))
    sources = ct2.tokens(SENTENCES, codes)
    assert sources == hf.tokens(SENTENCES, codes)
    if kind == "nllb":
        assert all(s[0] == "spa_Latn" and s[-1] == "</s>" for s in sources)
    ct2_out, hf_out = ct2.translate_tokens(sources, codes), hf.translate_tokens(sources, codes)
    assert ct2_out == hf_out
    assert all(out for out in ct2_out)
    assert len({tuple(out) for out in ct2_out}) > 1, "different inputs give different outputs"
    # Output length is bounded relative to the longest input in the batch.
    assert max(map(len, ct2_out)) <= int(1.5 * max(map(len, sources))) + 4 + 1


def test_repetition_limit_applies_on_both_backends(tiny_marian):
    for backend in ("ctranslate2", "transformers"):
        options = {**EXACT, "no_repeat_ngram_size": 2, "compute_type": "float32" if backend == "ctranslate2" else None}
        engine = Seq2SeqEngine(str(tiny_marian), Seq2SeqParams(backend=backend, **options))
        for tokens in engine.translate_tokens(engine.tokens(SENTENCES, LanguageCodes()), LanguageCodes()):
            bigrams = list(zip(tokens, tokens[1:]))
            assert len(bigrams) == len(set(bigrams)), f"{backend} repeated a bigram: {tokens}"


def test_device_auto_is_cuda_float16_with_a_gpu_else_cpu_int8(tiny_marian):
    import ctranslate2

    # On a GPU machine this checks the CUDA path; elsewhere the CPU one.
    expected = ("cuda", "float16") if ctranslate2.get_cuda_device_count() > 0 else ("cpu", "int8")
    engine = Seq2SeqEngine(str(tiny_marian), Seq2SeqParams(backend="ctranslate2"))
    assert (engine.device, engine.compute_type) == expected
    assert engine.translate_tokens(engine.tokens(SENTENCES[:1], LanguageCodes()), LanguageCodes())[0]
    assert resolve_compute_type(Seq2SeqParams(backend="ctranslate2"), "cuda") == "float16"
    assert resolve_compute_type(Seq2SeqParams(backend="transformers"), "cpu") == "float32"
    # The cache key names the precision actually used, before any model is loaded.
    default = marian(tiny_marian)
    assert default.cache_settings()["compute_type"] == expected[1] and default._engines == {}
    assert marian(tiny_marian, compute_type="float32").cache_settings() != default.cache_settings()


def test_cuda_without_a_gpu_is_refused_by_name_at_warm_up(tiny_marian):
    import ctranslate2

    if ctranslate2.get_cuda_device_count() > 0:
        pytest.skip("this machine has a GPU")
    translator = marian(tiny_marian, device="cuda")  # building is cheap and checks no device
    with pytest.raises(ModelUnavailableError, match=r"device: cuda, but ctranslate2 sees no CUDA GPU here; set device: auto"):
        translator.warm_up()


def test_conversion_is_cached_and_a_crash_leaves_nothing_half_written(tmp_path, tiny_marian, monkeypatch):
    import ctranslate2

    class Crash(Exception):
        pass

    real_convert = ctranslate2.converters.TransformersConverter.convert

    def crashing_convert(self, output_dir, **kwargs):
        Path(output_dir).mkdir(parents=True)
        (Path(output_dir) / "model.bin").write_bytes(b"half")
        raise Crash

    monkeypatch.setattr(ctranslate2.converters.TransformersConverter, "convert", crashing_convert)
    with pytest.raises(Crash):
        ct2_model(str(tiny_marian), quantization="int8", root=tmp_path, announce=False)
    assert list((tmp_path / "ct2").iterdir()) == [], "no partial model is left where a run would find it"

    monkeypatch.setattr(ctranslate2.converters.TransformersConverter, "convert", real_convert)
    folder = ct2_model(str(tiny_marian), quantization="int8", root=tmp_path, announce=False)
    assert (folder / "model.bin").stat().st_size > 100 and "int8" in folder.name
    stamp = (folder / "model.bin").stat().st_mtime_ns
    assert ct2_model(str(tiny_marian), quantization="int8", root=tmp_path, announce=False) == folder
    assert (folder / "model.bin").stat().st_mtime_ns == stamp, "second use does not convert again"
    assert ct2_model(str(tiny_marian), quantization="float32", root=tmp_path, announce=False) != folder


def test_unavailable_models_name_the_id_and_the_remedy(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError, match=r"'Helsinki-NLP/opus-mt-xx-en' is not available from offline mode.*local folder|folder"):
        resolve_source("Helsinki-NLP/opus-mt-xx-en")
    with pytest.raises(ModelUnavailableError, match=r"model folder './no/such/model' not found"):
        resolve_source("./no/such/model")
    # In a run it stops the translate stage even where failed batches are only recorded:
    # every batch of that language would fail the same way.
    stage = TranslateStage(NamedTranslator("marian", MarianTranslator(MarianTranslator.Params())), "en", on_error="record")
    with pytest.raises(ModelUnavailableError, match=r"'Helsinki-NLP/opus-mt-de-en' is not available"):
        stage.run(["de1"], ["Die Katze frisst Fisch."], ["de"])


def test_marian_routes_from_manifest_with_aliases_and_fallback(tiny_marian):
    default = MarianTranslator(MarianTranslator.Params())
    assert default.model_for("de", "en") == "Helsinki-NLP/opus-mt-de-en"
    assert default.model_for("zh-CN", "en") == "Helsinki-NLP/opus-mt-zh-en"
    assert default.model_for("pb", "en") == default.model_for("pt", "en") == "Helsinki-NLP/opus-mt-ROMANCE-en"
    assert default.model_for("sw", "en") == "Helsinki-NLP/opus-mt-mul-en"  # no own model: the fallback
    assert not default.supports("de", "fr")
    own = marian(tiny_marian)
    assert own.model_for("es", "en") == str(tiny_marian)
    assert not own.supports("de", "en") and "no model for 'de'" in own.missing("de")


def test_nllb_maps_iso_codes_to_flores():
    nllb = NLLBTranslator(NLLBTranslator.Params())
    assert nllb.language_codes("es", "en") == LanguageCodes("spa_Latn", "eng_Latn")
    assert nllb.language_codes("zh-tw", "en").source == "zho_Hant"
    assert nllb.model_for("pb", "en") == "facebook/nllb-200-distilled-600M"
    assert not nllb.supports("xx", "en") and "no FLORES-200 code for 'xx'" in nllb.missing("xx")


def test_nllb_translates_through_the_stage(tiny_nllb):
    nllb = NLLBTranslator(NLLBTranslator.Params(model=str(tiny_nllb), device="cpu"))
    out = TranslateStage(NamedTranslator("nllb", nllb), "en").run(["a", "b"], SENTENCES[:2], ["es", "es"]).translations
    assert [t.pivot for t in out] == nllb.translate(SENTENCES[:2], "es", "en")
    assert all(t.model == str(tiny_nllb) and t.translator == "nllb" for t in out)
    engine = nllb.engine(str(tiny_nllb))
    assert engine.tokens(["x"], nllb.language_codes("es", "en"))[0][0] == "spa_Latn"


def test_cache_serves_the_second_run_without_loading_the_model(tmp_path, tiny_marian):
    texts = ["El gato come pescado. La casa es grande.", "La casa es grande.", "El gato come pescado."]
    with TranslationCache(tmp_path / "cache.sqlite") as cache:
        first_translator = marian(tiny_marian, device="cpu")
        first = TranslateStage(NamedTranslator("marian", first_translator, "s"), "en", cache=cache)
        result1 = first.run(["a", "b", "c"], texts, ["es"] * 3)
        out1 = result1.translations
        # Two distinct sentences, each translated once.
        assert (result1.stats.segments, result1.stats.cache_misses) == (2, 2)
        assert out1[0].split and not out1[0].cached

    with TranslationCache(tmp_path / "cache.sqlite") as cache:
        second_translator = marian(tiny_marian, device="cpu")
        second = TranslateStage(NamedTranslator("marian", second_translator, "s"), "en", cache=cache)
        result2 = second.run(["a", "b", "c"], texts, ["es"] * 3)
        out2 = result2.translations
        assert [t.pivot for t in out2] == [t.pivot for t in out1]
        assert (result2.stats.cache_hits, result2.stats.cache_misses) == (2, 0) and all(t.cached for t in out2)
        assert second_translator._engines == {}, "a fully cached run never loads the model"
        # Other decoding settings are another namespace: no stale hits.
        other = TranslateStage(NamedTranslator("marian", marian(tiny_marian, device="cpu"), "beam=4"), "en", cache=cache)
        assert other.run(["a"], texts[:1], ["es"]).stats.cache_hits == 0


def test_long_text_is_split_into_sentences_and_put_back_with_paragraphs(tiny_marian):
    translator = marian(tiny_marian, max_input_tokens=12, **FIXED)
    text = "El gato come pescado. La casa es grande.\n\nNiño y niña en la escuela. " + " ".join(["Agua fuego ciudad tren"] * 8)
    stage = TranslateStage(NamedTranslator("marian", translator), "en")
    result = stage.run(["long"], [text], ["es"])
    [out] = result.translations
    paragraphs = out.pivot.split("\n\n")
    assert len(paragraphs) == 2 and all(p.strip() for p in paragraphs)
    assert out.split and result.stats.segments == 4
    # The 33-word sentence exceeds 12 tokens: cut further, counted, nothing dropped.
    assert result.stats.cut_sentences == 1
    sentences = [
        "El gato come pescado.", "La casa es grande.", "Niño y niña en la escuela.", " ".join(["Agua fuego ciudad tren"] * 8),
    ]
    alone = [translator.translate([s], "es", "en")[0] for s in sentences]
    assert out.pivot == f"{alone[0]} {alone[1]}\n\n{alone[2]} {alone[3]}"
    # The model saw the long sentence as several inputs, each within its limit.
    engine = translator.engine(str(tiny_marian))
    seen: list[list[str]] = []
    real = engine.translate_tokens
    engine.translate_tokens = lambda sources, codes: seen.extend(sources) or real(sources, codes)
    translator.translate([sentences[3]], "es", "en")
    assert len(seen) >= 3 and all(len(tokens) <= 12 for tokens in seen)
    assert "".join(t.lstrip("▁") for tokens in seen for t in tokens if t != "</s>") == sentences[3].replace(" ", "")


def test_results_come_back_in_input_order_across_token_batches(tiny_marian):
    translator = marian(tiny_marian, max_batch_tokens=16, **FIXED)
    texts = [" ".join(itertools.islice(itertools.cycle(SENTENCES), n)) for n in (3, 1, 2, 4, 1)]
    batched = translator.translate(texts, "es", "en")
    assert batched == [translator.translate([t], "es", "en")[0] for t in texts]


def test_missing_route_policies(tiny_marian):
    only_spanish = NamedTranslator("marian", marian(tiny_marian, device="cpu"))
    ids, texts, langs = ["es1", "de1", "de2"], ["El gato come.", "Die Katze frisst.", "Das Haus."], ["es", "de", "de"]
    with pytest.raises(TranslationError, match=r"no route de->en for 2 text\(s\): 'de1', 'de2' \(marian has no model for 'de'"):
        TranslateStage(only_spanish, "en").run(ids, texts, langs)
    kept = TranslateStage(only_spanish, "en", on_missing="keep").run(ids, texts, langs).translations
    assert [t.kept_original for t in kept] == [False, True, True] and kept[1].pivot == texts[1]
    fallback = NamedTranslator("identity", IdentityTranslator(IdentityTranslator.Params()))
    served = TranslateStage(only_spanish, "en", on_missing="fallback", fallback=fallback).run(ids, texts, langs).translations
    assert [t.translator for t in served] == ["marian", "identity", "identity"]
    assert not any(t.kept_original for t in served)


def test_models_convert_command(tmp_path, tiny_marian, monkeypatch, capsys):
    from pivotrec.pipeline.cli import main

    monkeypatch.setenv("PIVOTREC_MODELS", str(tmp_path))
    assert main(["models", "convert", str(tiny_marian), "--quantization", "int8"]) == 0
    printed = capsys.readouterr().out
    folder = next((tmp_path / "ct2").iterdir())
    assert str(folder) in printed and (folder / "model.bin").is_file()
    assert model_store.models_dir() == tmp_path


def test_run_through_the_router_splits_sentences_and_reports_cut_ones(write, tmp_path, tiny_marian, capsys):
    """A router hands each language to the chosen translator itself: Marian behind a
    router splits sentences, keeps paragraphs and counts over-long sentences as alone."""
    import json

    from pivotrec.pipeline.cli import main

    text = "El gato come pescado. La casa es grande.\n\nNiño y niña en la escuela. " + " ".join(["Agua fuego ciudad tren"] * 8)
    items = [{"id": "es-long", "text": text, "lang": "es"}, {"id": "en1", "text": "A cat eats fish.", "lang": "en"}]
    write("items.jsonl", "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))
    write("users.jsonl", json.dumps({"id": "u", "text": "cat", "lang": "en"}) + "\n")
    params = dict(routes={"es": str(tiny_marian)}, manifest=False, fallback_model=None, max_input_tokens=12, **FIXED)
    translator = {"plugin": "router", "params": {"routes": {"*": {"plugin": "marian", "params": params}}}}
    config = write("run.yaml", json.dumps({
        "input": {"items": "items.jsonl", "users": "users.jsonl"}, "output": "recs.jsonl",
        "translator": translator, "rankers": [{"plugin": "bm25-fast"}],
    }))
    assert main(["--quiet", "run", str(config)]) == 0
    assert "1 sentence(s) over the model's input limit cut into parts" in capsys.readouterr().out

    document = next(d for d in map(json.loads, (tmp_path / "recs.documents.jsonl").read_text().splitlines()) if d["id"] == "es-long")
    alone = TranslateStage(NamedTranslator("marian", marian(tiny_marian, max_input_tokens=12, **FIXED)), "en")
    result = alone.run(["es-long"], [text], ["es"])
    [expected] = result.translations
    assert document["pivot"] == expected.pivot and "\n\n" in document["pivot"]
    assert (document["translator"], document["model"]) == ("router:marian", str(tiny_marian))
    assert result.stats.cut_sentences == 1
