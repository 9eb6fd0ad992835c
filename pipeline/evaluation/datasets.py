"""Datasets with relevance labels.

One generic layout is what ``pivotrec eval`` and ``pivotrec compare`` read: a
folder with ``items.jsonl``, ``queries.jsonl`` (users or queries: text and/or
history) and ``qrels.tsv`` (query_id, item_id, grade; grade -1 = excluded from
scoring). XQuAD-R and SIB-200 are converted into it by ``prepare_*``.
"""

from __future__ import annotations

import csv
import json
import random
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pivotrec.pipeline.errors import InputError
from pivotrec.pipeline.io import check_histories, read_items, read_users
from pivotrec.pipeline.records import Item, User

XQUAD_R_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
#: SIB-200 folder -> ISO 639-1.
SIB200_LANGUAGES = {
    "eng_Latn": "en", "arb_Arab": "ar", "deu_Latn": "de", "fra_Latn": "fr", "spa_Latn": "es", "por_Latn": "pt",
    "ita_Latn": "it", "cat_Latn": "ca", "glg_Latn": "gl", "eus_Latn": "eu", "rus_Cyrl": "ru", "zho_Hans": "zh",
    "jpn_Jpan": "ja", "kor_Hang": "ko", "hin_Deva": "hi", "swh_Latn": "sw", "tur_Latn": "tr", "vie_Latn": "vi", "tha_Thai": "th",
}


@dataclass(frozen=True)
class Dataset:
    name: str
    items: list[Item]
    queries: list[User]
    qrels: dict[str, dict[str, int]]
    #: Lowest grade that counts as relevant for binary metrics (MAP, recall, MRR, ...).
    relevance_level: int = 1

    def query_langs(self) -> dict[str, str]:
        return {q.id: q.lang or "und" for q in self.queries}

    def item_langs(self) -> dict[str, str]:
        return {i.id: i.lang or "und" for i in self.items}


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with path.open(encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if number == 1 and row[:3] == ["query_id", "item_id", "grade"]:
                continue
            if len(row) != 3:
                raise InputError(f"{path}:{number}: expected 3 tab-separated columns (query_id, item_id, grade), got {len(row)}")
            try:
                qrels[row[0]][row[1]] = int(row[2])
            except ValueError:
                raise InputError(f"{path}:{number}: grade must be an integer, got {row[2]!r}") from None
    return dict(qrels)


def load_dataset(folder: str | Path) -> Dataset:
    """Read the generic layout; every query and item named in qrels must exist."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: dataset folder not found")
    items = read_items(folder / "items.jsonl")
    queries = read_users(folder / "queries.jsonl")
    check_histories(queries, items, str(folder / "queries.jsonl"))
    qrels = read_qrels(folder / "qrels.tsv")
    item_ids = {i.id for i in items}
    query_ids = {q.id for q in queries}
    for query_id, grades in qrels.items():
        if query_id not in query_ids:
            raise InputError(f"{folder / 'qrels.tsv'}: query {query_id!r} is not in queries.jsonl")
        unknown = [i for i in grades if i not in item_ids]
        if unknown:
            raise InputError(f"{folder / 'qrels.tsv'}: query {query_id!r} grades item(s) not in items.jsonl: {unknown[:5]}")
    meta_path = folder / "dataset.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    return Dataset(meta.get("name", folder.name), items, queries, qrels, int(meta.get("relevance_level", 1)))


def _write_jsonl(path: Path, rows: Iterable[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_dataset(folder: Path, name: str, items: list[dict[str, object]], queries: list[dict[str, object]], qrels: dict[str, dict[str, int]], description: str, relevance_level: int = 1) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _write_jsonl(folder / "items.jsonl", items)
    _write_jsonl(folder / "queries.jsonl", queries)
    with (folder / "qrels.tsv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["query_id", "item_id", "grade"])
        for query_id, grades in qrels.items():
            for item_id, grade in grades.items():
                writer.writerow([query_id, item_id, grade])
    meta = {"name": name, "description": description, "relevance_level": relevance_level}
    (folder / "dataset.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


# --- XQuAD-R -----------------------------------------------------------------


def _sentence_of(breaks: list[list[int]], offset: int) -> int:
    starts = [start for start, _ in breaks]
    return max(bisect_right(starts, offset) - 1, 0)


def prepare_xquad_r(source: Path, out: Path, languages: Iterable[str] = XQUAD_R_LANGUAGES) -> Path:
    """Convert XQuAD-R into the generic layout, plus ``human_translations.jsonl``.

    Items are the sentences of every paragraph in every language (pooled);
    queries are the questions in every language. For a question, the sentence
    holding its answer is grade 2 in every language, the other sentences of
    its paragraph grade 1.

    The English file is the original and the others its human translations,
    aligned by paragraph and question id. ``human_translations.jsonl`` maps
    each non-English text to its English original (the "human translation"
    upper bound): questions by id; sentences by paragraph, mapping answer
    sentences to the English answer sentence and the rest by relative
    position in the paragraph (sentence counts differ between languages).
    """
    languages = list(languages)
    if "en" not in languages:
        raise ValueError("XQuAD-R needs 'en': it is the original the others are aligned to")
    files = {lang: source / f"{lang}.json" for lang in languages}
    for lang, path in files.items():
        if not path.is_file():
            raise InputError(f"{path}: XQuAD-R file for {lang!r} not found")
    data = {lang: json.loads(path.read_text(encoding="utf-8"))["data"] for lang, path in files.items()}

    items: list[dict[str, object]] = []
    queries: list[dict[str, object]] = []
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    human: list[dict[str, str]] = []
    # question id -> (article, paragraph) and per-language answer sentence.
    where: dict[str, tuple[int, int]] = {}
    answer_sentence: dict[tuple[str, str], int] = {}
    for lang in languages:
        for a, article in enumerate(data[lang]):
            for p, para in enumerate(article["paragraphs"]):
                for s, sentence in enumerate(para["sentences"]):
                    items.append({"id": f"{lang}/{a}/{p}/{s}", "text": sentence, "lang": lang})
                for qa in para["qas"]:
                    where[qa["id"]] = (a, p)
                    answer_sentence[(lang, qa["id"])] = _sentence_of(para["sentence_breaks"], qa["answers"][0]["answer_start"])
                    queries.append({"id": f"{lang}/{qa['id']}", "text": qa["question"], "lang": lang})

    for query in queries:
        lang, qid = str(query["id"]).split("/", 1)
        a, p = where[qid]
        for other in languages:
            para = data[other][a]["paragraphs"][p]
            answer = answer_sentence[(other, qid)]
            for s in range(len(para["sentences"])):
                qrels[str(query["id"])][f"{other}/{a}/{p}/{s}"] = 2 if s == answer else 1

    english_questions = {qa["id"]: qa["question"] for article in data["en"] for para in article["paragraphs"] for qa in para["qas"]}
    for lang in languages:
        if lang == "en":
            continue
        for a, article in enumerate(data[lang]):
            for p, para in enumerate(article["paragraphs"]):
                english = data["en"][a]["paragraphs"][p]
                mapping = _align_sentences(para, english, [(answer_sentence[(lang, qa["id"])], answer_sentence[("en", qa["id"])]) for qa in para["qas"]])
                for s, sentence in enumerate(para["sentences"]):
                    human.append({"lang": lang, "source": sentence, "target": english["sentences"][mapping[s]]})
                for qa in para["qas"]:
                    human.append({"lang": lang, "source": qa["question"], "target": english_questions[qa["id"]]})

    # As in LAReQA, only answer sentences count for MAP and the other binary
    # metrics (relevance_level 2); nDCG also credits same-paragraph sentences.
    write_dataset(
        out, "XQuAD-R", items, queries, qrels,
        "XQuAD-R (CC BY-SA 4.0): questions in 11 languages against pooled sentences of all 11.", relevance_level=2,
    )
    _write_jsonl(out / "human_translations.jsonl", human)
    return out


def _align_sentences(para: dict, english: dict, anchors: list[tuple[int, int]]) -> list[int]:
    """For each sentence of ``para``, the index of its English counterpart."""
    length = max(len(para["context"]), 1)
    english_length = max(len(english["context"]), 1)
    english_starts = [start for start, _ in english["sentence_breaks"]]
    mapping = []
    for start, end in para["sentence_breaks"]:
        middle = (start + end) / 2 / length * english_length
        mapping.append(max(bisect_right(english_starts, middle) - 1, 0))
    for own, target in anchors:
        mapping[own] = target
    return mapping


# --- SIB-200 -----------------------------------------------------------------


def prepare_sib200(source: Path, out: Path, split: str = "test", users_per_language: int = 20, history_size: int = 3, seed: int = 0, languages: Iterable[str] | None = None) -> Path:
    """Convert SIB-200 into a recommendation dataset in the generic layout.

    Items are one split's sentences in every language (the same ``index_id``
    exists in each). Each user has a history of ``history_size`` same-topic
    items in one language; items of that topic in any language are relevant
    (grade 1), and the other-language translations of the history items are
    graded -1: excluded from scoring, since recommending a translation of what
    the user just read is no discovery.
    """
    folders = list(languages) if languages is not None else list(SIB200_LANGUAGES)
    rng = random.Random(seed)
    items: list[dict[str, object]] = []
    by_lang_topic: dict[tuple[str, str], list[str]] = defaultdict(list)
    topic_of: dict[str, str] = {}
    for folder in folders:
        path = source / folder / f"{split}.tsv"
        if not path.is_file():
            raise InputError(f"{path}: SIB-200 file not found")
        lang = SIB200_LANGUAGES[folder]
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                item_id = f"{lang}/{row['index_id']}"
                items.append({"id": item_id, "text": row["text"], "lang": lang, "category": row["category"]})
                by_lang_topic[(lang, row["category"])].append(row["index_id"])
                topic_of[row["index_id"]] = row["category"]

    langs = [SIB200_LANGUAGES[f] for f in folders]
    topics = sorted(set(topic_of.values()))
    queries: list[dict[str, object]] = []
    qrels: dict[str, dict[str, int]] = {}
    for lang in langs:
        for n in range(users_per_language):
            topic = topics[n % len(topics)]
            history = rng.sample(sorted(by_lang_topic[(lang, topic)]), history_size)
            user_id = f"{lang}/user{n}"
            queries.append({"id": user_id, "history": [f"{lang}/{h}" for h in history], "lang": lang})
            grades = {f"{other}/{i}": 1 for (other, t), ids in by_lang_topic.items() if t == topic for i in ids}
            for h in history:
                for other in langs:
                    grades[f"{other}/{h}"] = -1
            qrels[user_id] = grades
    write_dataset(out, "SIB-200", items, queries, qrels, f"SIB-200 {split} split as a catalogue; users with same-topic histories in one language.")
    return out
