"""Dataset conversion: LAReQA-style data keyed on question ids, dev/test splits, SIB-200 splits, leave-last-out.

Every fixture is written here: small SQuAD-style files shaped like XQuAD-R's
(``sentences`` and ``sentence_breaks`` per paragraph) and SIB-200 TSV folders.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pivotrec.pipeline.cli import main
from pivotrec.pipeline.errors import InputError
from pivotrec.pipeline.evaluation.compare import compare
from pivotrec.pipeline.evaluation.datasets import load_dataset, prepare_sib200, prepare_xquad_r
from pivotrec.pipeline.evaluation.leave_last_out import leave_last_out

#: (question id, question, answer text); the answer text must occur once in the paragraph.
Question = tuple[str, str, str]


def paragraph(sentences: list[str], questions: list[Question]) -> dict[str, object]:
    """One XQuAD-R-style paragraph: context, sentence character spans, and answers by character offset."""
    context = " ".join(sentences)
    breaks, start = [], 0
    for sentence in sentences:
        breaks.append([start, start + len(sentence)])
        start += len(sentence) + 1
    qas = [{"id": qid, "question": text, "answers": [{"answer_start": context.index(answer), "text": answer}]} for qid, text, answer in questions]
    return {"context": context, "sentences": sentences, "sentence_breaks": breaks, "qas": qas}


def write_languages(folder: Path, languages: dict[str, list[dict[str, object]]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for lang, articles in languages.items():
        (folder / f"{lang}.json").write_text(json.dumps({"version": "test", "data": articles}, ensure_ascii=False), encoding="utf-8")
    return folder


def read_rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# MLQA-R-like: every language has its own articles in its own order; r1, r2 are
# in en and zh, b1 in en and de, m1 in de and zh only; answers sit in
# differently numbered sentences across languages.
NON_PARALLEL = {
    "en": [
        {"title": "Rhine", "paragraphs": [
            paragraph(["The Rhine is a long river.", "It flows north to the sea.", "Basel lies on its banks."],
                      [("r1", "Which way does the Rhine flow?", "north"), ("r2", "Which city lies on the Rhine?", "Basel")]),
        ]},
        {"title": "Bread", "paragraphs": [
            paragraph(["Rye bread is dense."], []),
            paragraph(["Sourdough needs a starter.", "It rises slowly."], [("b1", "What does sourdough need?", "starter")]),
        ]},
    ],
    "de": [
        {"title": "Brot", "paragraphs": [
            paragraph(["Brot ist sehr alt.", "Sauerteig braucht Anstellgut.", "Er geht langsam auf."], [("b1", "Was braucht Sauerteig?", "Anstellgut")]),
        ]},
        {"title": "Zugspitze", "paragraphs": [
            paragraph(["Die Zugspitze liegt in Bayern.", "Sie ist 2962 Meter hoch."], [("m1", "Wie hoch ist die Zugspitze?", "2962")]),
        ]},
    ],
    "zh": [
        {"title": "楚格峰", "paragraphs": [paragraph(["楚格峰高2962米。"], [("m1", "楚格峰有多高？", "2962")])]},
        {"title": "莱茵河", "paragraphs": [
            paragraph(["莱茵河向北流入大海。", "巴塞尔位于河岸。"], [("r1", "莱茵河向哪个方向流？", "北"), ("r2", "哪座城市位于莱茵河畔？", "巴塞尔")]),
        ]},
    ],
}

RHINE_R1 = {"en/0/0/0": 1, "en/0/0/1": 2, "en/0/0/2": 1, "zh/1/0/0": 2, "zh/1/0/1": 1}
RHINE_R2 = {"en/0/0/0": 1, "en/0/0/1": 1, "en/0/0/2": 2, "zh/1/0/0": 1, "zh/1/0/1": 2}
BREAD_B1 = {"en/1/1/0": 2, "en/1/1/1": 1, "de/0/0/0": 1, "de/0/0/1": 2, "de/0/0/2": 1}
MOUNTAIN_M1 = {"de/1/0/0": 1, "de/1/0/1": 2, "zh/0/0/0": 2}


def test_non_parallel_languages_are_labelled_through_question_ids(tmp_path: Path) -> None:
    source = write_languages(tmp_path / "src", NON_PARALLEL)
    dataset = load_dataset(prepare_xquad_r(source, tmp_path / "out"))
    assert dataset.qrels == {
        "en/r1": RHINE_R1, "en/r2": RHINE_R2, "en/b1": BREAD_B1,
        "de/b1": BREAD_B1, "de/m1": MOUNTAIN_M1,
        "zh/m1": MOUNTAIN_M1, "zh/r1": RHINE_R1, "zh/r2": RHINE_R2,
    }
    assert [q.id for q in dataset.queries] == ["de/b1", "de/m1", "en/r1", "en/r2", "en/b1", "zh/m1", "zh/r1", "zh/r2"]
    assert len(dataset.items) == 5 + 6 + 3  # de, en, zh sentences
    assert {i.id: i.text for i in dataset.items}["zh/1/0/0"] == "莱茵河向北流入大海。"
    assert dataset.relevance_level == 2 and dataset.split == "all"


def test_human_translations_follow_question_ids_to_the_english_paragraph(tmp_path: Path) -> None:
    source = write_languages(tmp_path / "src", NON_PARALLEL)
    pairs = read_rows(prepare_xquad_r(source, tmp_path / "out") / "human_translations.jsonl")
    by_source = {pair["source"]: pair["target"] for pair in pairs}
    # Answer sentences map to the English answer sentence whatever their number.
    assert by_source["Sauerteig braucht Anstellgut."] == "Sourdough needs a starter."
    assert by_source["莱茵河向北流入大海。"] == "It flows north to the sea."
    assert by_source["巴塞尔位于河岸。"] == "Basel lies on its banks."
    assert by_source["Was braucht Sauerteig?"] == "What does sourdough need?"
    # m1 has no English original: neither its question nor its paragraph is paired.
    assert not {"Wie hoch ist die Zugspitze?", "Sie ist 2962 Meter hoch.", "楚格峰高2962米。"} & set(by_source)
    assert len(pairs) == 3 + 1 + 2 + 2


def test_a_subset_of_languages_converts_without_english(tmp_path: Path) -> None:
    source = write_languages(tmp_path / "src", NON_PARALLEL)
    out = prepare_xquad_r(source, tmp_path / "out", languages=["zh", "de"])
    dataset = load_dataset(out)
    assert {i.lang for i in dataset.items} == {"de", "zh"}
    assert dataset.qrels["zh/r1"] == {"zh/1/0/0": 2, "zh/1/0/1": 1}
    assert dataset.qrels["de/b1"] == {"de/0/0/0": 1, "de/0/0/1": 2, "de/0/0/2": 1}
    assert dataset.qrels["de/m1"] == MOUNTAIN_M1
    assert not (out / "human_translations.jsonl").exists()


def test_an_unknown_language_names_the_files_found(tmp_path: Path) -> None:
    source = write_languages(tmp_path / "src", NON_PARALLEL)
    with pytest.raises(InputError, match=r"no file for language\(s\) fr\. Found: de, en, zh"):
        prepare_xquad_r(source, tmp_path / "out", languages=["fr", "en"])


def test_the_cli_takes_any_subset_of_language_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_languages(tmp_path / "src", NON_PARALLEL)
    assert main(["datasets", "prepare", "xquad-r", str(source), str(tmp_path / "out"), "--languages", "de,en"]) == 0
    assert "XQuAD-R written to" in capsys.readouterr().out
    dataset = load_dataset(tmp_path / "out")
    assert dataset.qrels["de/b1"] == BREAD_B1
    assert dataset.qrels["en/r1"] == {"en/0/0/0": 1, "en/0/0/1": 2, "en/0/0/2": 1}


# Five English articles (0 and 3 are dev); German has the same articles in
# another order, so the split must follow question ids, not positions.
def _article(title: str, lang: str) -> dict[str, object]:
    return {"title": title, "paragraphs": [
        paragraph([f"{lang} {title} one.", f"{lang} {title} two."], [(f"{title}-q", f"{lang} {title}?", "two")]),
    ]}


SPLIT_TITLES = ["a0", "a1", "a2", "a3", "a4"]
SPLIT_LANGUAGES = {
    "en": [_article(title, "en") for title in SPLIT_TITLES],
    "de": [_article(title, "de") for title in ["a4", "a3", "a2", "a1", "a0"]],
}


def test_dev_and_test_split_by_english_article_position(tmp_path: Path) -> None:
    source = write_languages(tmp_path / "src", SPLIT_LANGUAGES)
    dev = load_dataset(prepare_xquad_r(source, tmp_path / "dev", split="dev"))
    test = load_dataset(prepare_xquad_r(source, tmp_path / "test", split="test"))
    everything = load_dataset(prepare_xquad_r(source, tmp_path / "all"))
    assert {q.id for q in dev.queries} == {f"{lang}/{title}-q" for lang in ("en", "de") for title in ("a0", "a3")}
    assert {q.id for q in test.queries} == {f"{lang}/{title}-q" for lang in ("en", "de") for title in ("a1", "a2", "a4")}
    # de's a3 and a0 are its articles 1 and 4.
    assert {i.id for i in dev.items} == {"en/0/0/0", "en/0/0/1", "en/3/0/0", "en/3/0/1", "de/1/0/0", "de/1/0/1", "de/4/0/0", "de/4/0/1"}
    assert not {i.id for i in dev.items} & {i.id for i in test.items}
    assert {i.id for i in dev.items} | {i.id for i in test.items} == {i.id for i in everything.items}
    assert dev.qrels["de/a3-q"] == everything.qrels["de/a3-q"] == {"en/3/0/0": 1, "en/3/0/1": 2, "de/1/0/0": 1, "de/1/0/1": 2}
    assert (dev.name, dev.split, test.name, test.split) == ("XQuAD-R (dev split)", "dev", "XQuAD-R (test split)", "test")
    meta = json.loads((tmp_path / "dev" / "dataset.json").read_text(encoding="utf-8"))
    assert "i % 3 == 0" in meta["split_rule"]
    human = read_rows(tmp_path / "test" / "human_translations.jsonl")
    assert {pair["target"] for pair in human} == {text for title in ("a1", "a2", "a4") for text in (f"en {title} one.", f"en {title} two.", f"en {title}?")}


def test_a_split_uses_english_even_when_english_is_left_out(tmp_path: Path) -> None:
    source = write_languages(tmp_path / "src", SPLIT_LANGUAGES)
    dev = load_dataset(prepare_xquad_r(source, tmp_path / "dev", split="dev", languages=["de"]))
    assert {q.id for q in dev.queries} == {"de/a0-q", "de/a3-q"}


def test_a_split_refuses_an_article_it_cannot_place(tmp_path: Path) -> None:
    source = write_languages(tmp_path / "src", NON_PARALLEL)
    with pytest.raises(InputError, match=r"de\.json: article 1 \('Zugspitze'\) cannot be placed in a split: question id\(s\) m1 are not in en\.json"):
        prepare_xquad_r(source, tmp_path / "dev", split="dev")
    (source / "en.json").unlink()
    with pytest.raises(InputError, match=r"en\.json: not found; the test split is defined by the English file"):
        prepare_xquad_r(source, tmp_path / "test", split="test")


# --- SIB-200 -----------------------------------------------------------------


def write_sib200(folder: Path) -> Path:
    """eng_Latn and deu_Latn with train/dev/test files; index_ids are unique across files, as in SIB-200."""
    topics = ["health", "sports"]
    next_id = 0
    for file_name in ("train.tsv", "dev.tsv", "test.tsv"):
        rows = []
        for topic in topics:
            for _ in range(4):
                rows.append((next_id, topic))
                next_id += 1
        for folder_name, word in (("eng_Latn", "sentence"), ("deu_Latn", "Satz")):
            (folder / folder_name).mkdir(parents=True, exist_ok=True)
            lines = ["index_id\tcategory\ttext"] + [f"{index_id}\t{topic}\t{topic} {word} {index_id}" for index_id, topic in rows]
            (folder / folder_name / file_name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_sib200_dev_and_test_read_their_own_files_and_share_nothing(tmp_path: Path) -> None:
    source = write_sib200(tmp_path / "sib")
    options = {"users_per_language": 4, "history_size": 2, "languages": ["en", "de"]}
    dev = load_dataset(prepare_sib200(source, tmp_path / "dev", split="dev", **options))
    test = load_dataset(prepare_sib200(source, tmp_path / "test", split="test", **options))
    every = load_dataset(prepare_sib200(source, tmp_path / "all", split="all", **options))
    assert {i.id for i in dev.items} == {f"{lang}/{n}" for lang in ("en", "de") for n in range(8, 16)}
    assert {i.id for i in test.items} == {f"{lang}/{n}" for lang in ("en", "de") for n in range(16, 24)}
    assert len(every.items) == 2 * 24
    dev_histories = {h for q in dev.queries for h in q.history}
    assert dev_histories <= {i.id for i in dev.items}
    assert not dev_histories & {h for q in test.queries for h in q.history}
    assert not {i for grades in dev.qrels.values() for i in grades} & {i for grades in test.qrels.values() for i in grades}
    assert (dev.name, dev.split, test.split, every.split) == ("SIB-200 (dev split)", "dev", "test", "all")
    meta = json.loads((tmp_path / "dev" / "dataset.json").read_text(encoding="utf-8"))
    assert meta["split_rule"] == "SIB-200's own files: dev.tsv of each language"


def test_sib200_unknown_language_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="languages: no SIB-200 language xx"):
        prepare_sib200(write_sib200(tmp_path / "sib"), tmp_path / "out", languages=["en", "xx"])


# Ordered interactions, oldest first. Held out: u1 c, u2 a, u3 b, u4 e; u5 has one item and is dropped.
# The histories left (u1 [a], u2 [c, b], u3 [c, d], u4 [c]) make c the most popular item.
INTERACTION_ITEMS = [
    {"id": "a", "text": "A river runs through the old town", "lang": "en", "genre": "travel"},
    {"id": "b", "text": "Bread rises slowly overnight", "lang": "en"},
    {"id": "c", "text": "La bicicleta necesita frenos nuevos", "lang": "es"},
    {"id": "d", "text": "Die Sterne leuchten über dem Meer", "lang": "de"},
    {"id": "e", "text": "Opera season opens in spring", "lang": "en"},
]
INTERACTION_USERS = [
    {"id": "u1", "history": ["a", "c"], "text": "cycling and rivers"},
    {"id": "u2", "history": ["c", "b", "a"], "lang": "en"},
    {"id": "u3", "history": ["c", "d", "b"]},
    {"id": "u4", "history": ["c", "e"]},
    {"id": "u5", "history": ["d"]},
]


def write_interactions(folder: Path, users: list[dict[str, object]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("items.jsonl", INTERACTION_ITEMS), ("users.jsonl", users)):
        (folder / name).write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return folder


def test_leave_last_out_holds_out_the_newest_item_and_drops_short_histories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_interactions(tmp_path / "shop", INTERACTION_USERS)
    assert main(["datasets", "leave-last-out", str(source), str(tmp_path / "held-out")]) == 0
    printed = capsys.readouterr().out
    assert "4 users" in printed and "1 users with fewer than 2 history items dropped" in printed
    dataset = load_dataset(tmp_path / "held-out")
    assert {q.id: q.history for q in dataset.queries} == {"u1": ("a",), "u2": ("c", "b"), "u3": ("c", "d"), "u4": ("c",)}
    assert dataset.qrels == {"u1": {"c": 1}, "u2": {"a": 1}, "u3": {"b": 1}, "u4": {"e": 1}}
    # The user's own text and language stay; items keep their extra fields.
    assert {q.id: (q.text, q.lang) for q in dataset.queries}["u1"] == ("cycling and rivers", None)
    assert {q.id: q.lang for q in dataset.queries}["u2"] == "en"
    assert read_rows(tmp_path / "held-out" / "items.jsonl")[0] == INTERACTION_ITEMS[0]
    assert (tmp_path / "held-out" / "dropped_users.txt").read_text(encoding="utf-8").splitlines() == ["u5"]
    meta = json.loads((tmp_path / "held-out" / "dataset.json").read_text(encoding="utf-8"))
    assert (meta["protocol"], meta["dropped_users"], dataset.split, dataset.name) == ("leave-last-out", 1, "test", "shop (leave-last-out)")


def test_leave_last_out_refuses_when_no_history_can_be_split(tmp_path: Path) -> None:
    source = write_interactions(tmp_path / "short", [{"id": "u1", "history": ["a"]}, {"id": "u2", "text": "opera"}])
    with pytest.raises(InputError, match="users.jsonl: no user has 2 or more history items"):
        leave_last_out(source, tmp_path / "out")


def test_popularity_ranks_the_most_popular_held_out_item_first_in_eval(tmp_path: Path) -> None:
    held_out = leave_last_out(write_interactions(tmp_path / "shop", INTERACTION_USERS), tmp_path / "held-out")
    config = tmp_path / "popularity.yaml"
    config.write_text("translator: null\nrankers: [{plugin: popularity}]\n", encoding="utf-8")
    assert main(["-q", "eval", str(config), "--dataset", str(held_out.out), "--metrics", "ndcg@3", "--in-process", "--out", str(tmp_path / "report")]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    _, (arm,) = compare([config], held_out.out, ["ndcg@3"], quiet=True, isolate=False)
    assert report["dataset"]["queries"] == 4 and report["systems"][0]["metrics"]["ndcg@3"] == pytest.approx(arm.score("ndcg@3"))
    # Popularity counts the histories eval sees (the held-out items are not in them): c is in 3.
    assert arm.run["u1"][0] == "c" and arm.per_query["ndcg@3"]["u1"] == 1.0
    # Users who read c get the next items by popularity (ties in catalogue order), never c again.
    assert arm.run["u4"] == ["a", "b", "d"]
