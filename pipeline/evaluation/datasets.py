"""Datasets with relevance labels.

One generic layout is what ``pivotrec eval`` and ``pivotrec compare`` read: a
folder with ``items.jsonl``, ``queries.jsonl`` (users or queries: text and/or
history), ``qrels.tsv`` (query_id, item_id, grade; grade -1 = excluded from
scoring) and ``dataset.json`` (name, description, relevance level, and which
split of the source it holds). XQuAD-R and SIB-200 are converted into it by
``prepare_*``; each can write a dev split for tuning and a disjoint test split
for reporting.
"""

from __future__ import annotations

import csv
import json
import random
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pivotrec.pipeline.errors import InputError
from pivotrec.pipeline.io import check_histories, read_items, read_users
from pivotrec.pipeline.records import Item, User

#: ``dev`` to choose weights and options, ``test`` to report, ``all`` for everything.
SPLITS = ("dev", "test", "all")
XQUAD_R_SPLIT_RULE = (
    "by article: article i (counting from 0) of en.json's data list is dev when i % 3 == 0, else test; "
    "an article in another language follows the English articles of its question ids"
)
#: SIB-200 split -> the files of each language folder it reads.
SIB200_SPLIT_FILES = {"dev": ("dev.tsv",), "test": ("test.tsv",), "all": ("train.tsv", "dev.tsv", "test.tsv")}
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
    #: Which part of the source this is: ``dev``, ``test`` or ``all`` (see ``SPLITS``).
    split: str = "all"

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
    return Dataset(meta.get("name", folder.name), items, queries, qrels, int(meta.get("relevance_level", 1)), str(meta.get("split", "all")))


def _write_jsonl(path: Path, rows: Iterable[Mapping[str, object]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_dataset(
    folder: Path, name: str, items: list[dict[str, object]], queries: list[dict[str, object]], qrels: dict[str, dict[str, int]],
    description: str, relevance_level: int = 1, split: str = "all", split_rule: str | None = None, notes: Mapping[str, object] | None = None,
) -> None:
    """Write the generic layout; ``split`` and ``split_rule`` go to ``dataset.json`` so reports can name the split,
    and so do ``notes`` (e.g. the evaluation protocol)."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_jsonl(folder / "items.jsonl", items)
    _write_jsonl(folder / "queries.jsonl", queries)
    with (folder / "qrels.tsv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["query_id", "item_id", "grade"])
        for query_id, grades in qrels.items():
            for item_id, grade in grades.items():
                writer.writerow([query_id, item_id, grade])
    meta: dict[str, object] = {"name": name, "description": description, "relevance_level": relevance_level, "split": split}
    if split_rule is not None:
        meta["split_rule"] = split_rule
    meta |= notes or {}
    (folder / "dataset.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split: unknown split {split!r}; expected one of {', '.join(SPLITS)}")


# --- XQuAD-R and other LAReQA-style answer retrieval -------------------------

#: One language's SQuAD-style ``data`` list: articles with ``paragraphs``.
Articles = list[dict[str, Any]]


@dataclass(frozen=True)
class _Answer:
    """Where a question sits in one language's file: article and paragraph positions, and its answer sentence."""

    article: int
    paragraph: int
    sentence: int


def _sentence_of(breaks: list[list[int]], offset: int) -> int:
    starts = [start for start, _ in breaks]
    return max(bisect_right(starts, offset) - 1, 0)


def _lareqa_files(source: Path, languages: Iterable[str] | None) -> dict[str, Path]:
    """The ``<lang>.json`` files of ``source`` by language (sorted), only ``languages`` if given."""
    found = {path.stem: path for path in sorted(source.glob("*.json"))}
    if not found:
        raise InputError(f"{source}: no <lang>.json files found")
    if languages is None:
        return found
    wanted = sorted(set(languages))
    missing = [lang for lang in wanted if lang not in found]
    if missing:
        raise InputError(f"{source}: no file for language(s) {', '.join(missing)}. Found: {', '.join(found)}")
    return {lang: found[lang] for lang in wanted}


def _read_articles(path: Path) -> Articles:
    try:
        return json.loads(path.read_text(encoding="utf-8"))["data"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise InputError(f"{path}: expected SQuAD-style JSON with a 'data' list of articles ({exc})") from None


def _answers(path: Path, articles: Articles) -> dict[str, _Answer]:
    """Question id -> where it sits in this language, its answer sentence found from this file's own offsets."""
    answers: dict[str, _Answer] = {}
    for a, article in enumerate(articles):
        for p, para in enumerate(article["paragraphs"]):
            for qa in para["qas"]:
                if qa["id"] in answers:
                    raise InputError(f"{path}: question id {qa['id']!r} appears more than once")
                answers[qa["id"]] = _Answer(a, p, _sentence_of(para["sentence_breaks"], qa["answers"][0]["answer_start"]))
    return answers


def _articles_in_split(split: str, english: Articles, data: dict[str, Articles], files: dict[str, Path]) -> dict[str, list[int]]:
    """Per language, the positions of its articles that fall in ``split`` (``XQUAD_R_SPLIT_RULE``).

    Keyed on question ids rather than positions, so languages whose files
    hold different articles, or the same ones in another order, split alike.
    """
    english_split = {qa["id"]: "dev" if a % 3 == 0 else "test" for a, article in enumerate(english) for para in article["paragraphs"] for qa in para["qas"]}
    kept: dict[str, list[int]] = {}
    for lang, articles in data.items():
        kept[lang] = []
        for a, article in enumerate(articles):
            question_ids = [qa["id"] for para in article["paragraphs"] for qa in para["qas"]]
            unplaced = [i for i in question_ids if i not in english_split]
            splits = {english_split[i] for i in question_ids if i in english_split}
            if not question_ids or unplaced or len(splits) > 1:
                reason = (
                    "it has no questions" if not question_ids
                    else f"question id(s) {', '.join(unplaced[:3])} are not in en.json" if unplaced
                    else "its questions come from both dev and test articles of en.json"
                )
                raise InputError(f"{files[lang]}: article {a} ({article.get('title', 'untitled')!r}) cannot be placed in a split: {reason}")
            if splits == {split}:
                kept[lang].append(a)
    return kept


def _graded_sentences(question_id: str, data: dict[str, Articles], answers: dict[str, dict[str, _Answer]]) -> dict[str, int]:
    """In every language that has the question: its answer sentence grade 2, the rest of that paragraph grade 1."""
    grades: dict[str, int] = {}
    for lang, articles in data.items():
        answer = answers[lang].get(question_id)
        if answer is None:
            continue
        sentences = articles[answer.article]["paragraphs"][answer.paragraph]["sentences"]
        for s in range(len(sentences)):
            grades[f"{lang}/{answer.article}/{answer.paragraph}/{s}"] = 2 if s == answer.sentence else 1
    return grades


def prepare_xquad_r(source: Path, out: Path, split: str = "all", languages: Iterable[str] | None = None) -> Path:
    """Convert XQuAD-R, or any LAReQA-style data, into the generic layout plus ``human_translations.jsonl``.

    ``source`` holds one SQuAD-style ``<lang>.json`` per language whose
    paragraphs carry ``sentences`` and ``sentence_breaks``; every file found is
    read, or only ``languages``. Files need not be parallel: each is read on
    its own and languages meet only through question ids, so MLQA-R-style data
    (different articles per language, a question in only some languages)
    converts as well as XQuAD-R.

    Items are the sentences of every paragraph in every language (pooled), id
    ``lang/article/paragraph/sentence`` with positions in that language's own
    file; queries are the questions, id ``lang/question_id``. For a question,
    in every language that has its id, the sentence holding the answer (found
    from that language's own ``answer_start`` and ``sentence_breaks``) is
    grade 2 and the other sentences of its paragraph grade 1.

    ``split`` ``dev`` or ``test`` keeps only the articles of that split, items
    and queries alike, following ``XQUAD_R_SPLIT_RULE`` (XQuAD-R: 16 dev and
    32 test articles); it needs ``en.json`` in ``source`` even when English is
    not among ``languages``. ``all`` keeps everything.

    When English is converted, ``human_translations.jsonl`` maps each other
    text to its English original (the "human translation" upper bound):
    questions by id; sentences by relative position within the English
    paragraph that holds the same questions, answer sentences to the English
    answer sentence. A paragraph that shares questions with no single English
    paragraph contributes only its questions.
    """
    _check_split(split)
    files = _lareqa_files(source, languages)
    data = {lang: _read_articles(path) for lang, path in files.items()}
    answers = {lang: _answers(files[lang], articles) for lang, articles in data.items()}
    if split == "all":
        kept = {lang: list(range(len(articles))) for lang, articles in data.items()}
    else:
        english = source / "en.json"
        if not english.is_file():
            raise InputError(f"{english}: not found; the {split} split is defined by the English file's articles")
        kept = _articles_in_split(split, data["en"] if "en" in data else _read_articles(english), data, files)

    items: list[dict[str, object]] = []
    queries: list[dict[str, object]] = []
    qrels: dict[str, dict[str, int]] = {}
    for lang, articles in data.items():
        for a in kept[lang]:
            for p, para in enumerate(articles[a]["paragraphs"]):
                items.extend({"id": f"{lang}/{a}/{p}/{s}", "text": sentence, "lang": lang} for s, sentence in enumerate(para["sentences"]))
                for qa in para["qas"]:
                    query_id = f"{lang}/{qa['id']}"
                    queries.append({"id": query_id, "text": qa["question"], "lang": lang})
                    qrels[query_id] = _graded_sentences(qa["id"], data, answers)

    name = "XQuAD-R" if split == "all" else f"XQuAD-R ({split} split)"
    # As in LAReQA, only answer sentences count for MAP and the other binary
    # metrics (relevance_level 2); nDCG also credits same-paragraph sentences.
    write_dataset(
        out, name, items, queries, qrels,
        f"XQuAD-R (CC BY-SA 4.0): questions in {len(data)} languages against pooled sentences of all {len(data)}.",
        relevance_level=2, split=split, split_rule=XQUAD_R_SPLIT_RULE if split != "all" else None,
    )
    human_path = out / "human_translations.jsonl"
    if "en" in data:
        _write_jsonl(human_path, _human_translations(data, answers, kept))
    else:
        # A table left by an earlier run over other languages would pose as this dataset's upper bound.
        human_path.unlink(missing_ok=True)
    return out


def _human_translations(data: dict[str, Articles], answers: dict[str, dict[str, _Answer]], kept: dict[str, list[int]]) -> list[dict[str, str]]:
    """Each non-English question and sentence of the kept articles with its English original."""
    english, english_answers = data["en"], answers["en"]
    english_questions = {qa["id"]: qa["question"] for article in english for para in article["paragraphs"] for qa in para["qas"]}
    pairs: list[dict[str, str]] = []
    for lang, articles in data.items():
        if lang == "en":
            continue
        for a in kept[lang]:
            for para in articles[a]["paragraphs"]:
                shared = [qa["id"] for qa in para["qas"] if qa["id"] in english_answers]
                origins = {(english_answers[i].article, english_answers[i].paragraph) for i in shared}
                if len(origins) == 1:
                    (english_article, english_paragraph), = origins
                    original = english[english_article]["paragraphs"][english_paragraph]
                    anchors = [(answers[lang][i].sentence, english_answers[i].sentence) for i in shared]
                    mapping = _align_sentences(para, original, anchors)
                    pairs.extend({"lang": lang, "source": sentence, "target": original["sentences"][mapping[s]]} for s, sentence in enumerate(para["sentences"]))
                pairs.extend({"lang": lang, "source": qa["question"], "target": english_questions[qa["id"]]} for qa in para["qas"] if qa["id"] in english_questions)
    return pairs


def _align_sentences(para: dict[str, Any], english: dict[str, Any], anchors: list[tuple[int, int]]) -> list[int]:
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

    The split picks SIB-200's own files (``SIB200_SPLIT_FILES``), in every
    language folder: ``dev`` reads ``dev.tsv`` (99 sentences per language),
    ``test`` reads ``test.tsv`` (204; the default, as before) and ``all``
    reads train, dev and test (1,004). Items are those sentences in every
    language (the same ``index_id`` exists in each), and users are built from
    the same items only, so a dev and a test dataset share no item, history or
    relevant item: their users differ in everything but their ids
    (``lang/userN``).

    Each user has a history of ``history_size`` same-topic items in one
    language; items of that topic in any language are relevant (grade 1), and
    the other-language translations of the history items are graded -1:
    excluded from scoring, since recommending a translation of what the user
    just read is no discovery. ``languages`` (ISO 639-1 codes) keeps only
    those languages.
    """
    _check_split(split)
    folders = list(SIB200_LANGUAGES)
    if languages is not None:
        wanted = set(languages)
        unknown = sorted(wanted - set(SIB200_LANGUAGES.values()))
        if unknown:
            raise InputError(f"languages: no SIB-200 language {', '.join(unknown)}. Known: {', '.join(sorted(SIB200_LANGUAGES.values()))}")
        folders = [folder for folder in folders if SIB200_LANGUAGES[folder] in wanted]
    rng = random.Random(seed)
    items: list[dict[str, object]] = []
    by_lang_topic: dict[tuple[str, str], list[str]] = defaultdict(list)
    topic_of: dict[str, str] = {}
    for folder in folders:
        lang = SIB200_LANGUAGES[folder]
        for file_name in SIB200_SPLIT_FILES[split]:
            path = source / folder / file_name
            if not path.is_file():
                raise InputError(f"{path}: SIB-200 file not found")
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
    files = " + ".join(SIB200_SPLIT_FILES[split])
    write_dataset(
        out, f"SIB-200 ({split} split)", items, queries, qrels,
        f"SIB-200 {files} as a catalogue; users with same-topic histories in one language.",
        split=split, split_rule=f"SIB-200's own files: {files} of each language",
    )
    return out
