from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pivotrec.pipeline.errors import InputError
from pivotrec.pipeline.io import check_histories, count_rows, read_items, read_users


def test_reads_jsonl_with_declared_language_and_extra_fields(write):
    path = write("items.jsonl", '{"id": 1, "text": "Hola mundo", "lang": "es", "title": "T"}\n\n{"id": "b", "text": "Hello"}\n')
    items = read_items(path)
    assert [i.id for i in items] == ["1", "b"]
    assert items[0].lang == "es" and items[0].fields == {"title": "T"}
    assert items[1].lang is None


def test_reads_csv_and_tsv(write):
    csv_items = read_items(write("items.csv", "id,text,lang\na,\"Bonjour, le monde\",fr\nb,Hallo,\n"))
    assert [(i.id, i.text, i.lang) for i in csv_items] == [("a", "Bonjour, le monde", "fr"), ("b", "Hallo", None)]
    users = read_users(write("users.tsv", "id\thistory\ttext\nu1\ta|b\t\nu2\t\tcycling\n"))
    assert users[0].history == ("a", "b") and users[1].text == "cycling"


def test_reads_parquet(tmp_path):
    path = tmp_path / "items.parquet"
    pq.write_table(pa.table({"id": ["x", "y"], "text": ["uno", "dos"], "lang": ["es", None]}), path)
    assert [(i.id, i.lang) for i in read_items(path)] == [("x", "es"), ("y", None)]


def test_malformed_jsonl_names_the_line(write):
    path = write("items.jsonl", '{"id": "a", "text": "ok"}\n{"id": "b", "text": \n')
    with pytest.raises(InputError, match=r"items\.jsonl:2: malformed JSON"):
        read_items(path)


def test_whitespace_only_text_names_line_and_item(write):
    path = write("items.jsonl", '{"id": "a", "text": "ok"}\n{"id": "blank", "text": "  \\t "}\n')
    with pytest.raises(InputError, match=r"items\.jsonl:2: item 'blank': text is empty"):
        read_items(path)


def test_missing_id_names_the_line(write):
    path = write("items.jsonl", '{"id": "a", "text": "ok"}\n{"text": "no id"}\n')
    with pytest.raises(InputError, match=r"items\.jsonl:2: item has no 'id'"):
        read_items(path)


def test_duplicate_ids_name_both_lines(write):
    path = write("items.jsonl", '{"id": "a", "text": "one"}\n{"id": "b", "text": "two"}\n{"id": "a", "text": "three"}\n')
    with pytest.raises(InputError, match=r"items\.jsonl:3: duplicate item id 'a' \(first at line 1\)"):
        read_items(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nope\.jsonl: file not found"):
        read_items(tmp_path / "nope.jsonl")


def test_non_utf8_file(write):
    path = write("items.jsonl", '{"id": "a", "text": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(InputError, match=r"items\.jsonl:1: byte 25 of the line .*not UTF-8"):
        read_items(path)


def test_user_needs_text_or_history(write):
    path = write("users.jsonl", '{"id": "u1"}\n')
    with pytest.raises(InputError, match=r"users\.jsonl:1: user 'u1': needs a text, a history"):
        read_users(path)


def test_history_must_name_catalogue_items(write):
    items = read_items(write("items.jsonl", '{"id": "a", "text": "one"}\n'))
    users = read_users(write("users.jsonl", '{"id": "u1", "history": ["a", "zz"]}\n'))
    with pytest.raises(InputError, match=r"user 'u1' has history item\(s\) not in the catalogue: \['zz'\]"):
        check_histories(users, items, "users.jsonl")


def test_count_rows_gives_the_progress_total_of_each_format(write, tmp_path):
    assert count_rows(write("a.jsonl", '{"id": 1}\n{"id": 2}\n{"id": 3}\n')) == 3
    assert count_rows(write("a.csv", "id,text\n1,a\n2,b\n")) == 2
    pq.write_table(pa.table({"id": ["1", "2", "3", "4"], "text": ["a", "b", "c", "d"]}), tmp_path / "a.parquet")
    assert count_rows(tmp_path / "a.parquet") == 4
