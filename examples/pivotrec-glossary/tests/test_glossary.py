"""How a plugin author tests a plugin: the class alone, then through pivotrec's registry."""

import pytest
from pivotrec_glossary import GlossaryTranslator


def test_translates_known_words_and_keeps_the_rest():
    translator = GlossaryTranslator(GlossaryTranslator.Params(entries={"sw": {"baiskeli": "bicycle", "mlima": "mountain"}}))
    assert translator.supports("sw", "en") and not translator.supports("de", "en")
    assert translator.translate(["Baiskeli ya mlima!"], "sw", "en") == ["bicycle ya mountain!"]


def test_registered_through_the_entry_point():
    registry = pytest.importorskip("pivotrec.pipeline.registry")
    assert registry.load("translator", "glossary") is GlossaryTranslator
