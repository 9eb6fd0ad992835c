"""docs/writing-plugins.md states the plugin contract exactly as protocols.py declares it."""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence

import numpy as np
import pytest
from pydantic import BaseModel

from pivotrec.pipeline import protocols
from pivotrec.pipeline.records import Detection, Document, Hit, Query

from .test_demo import REPO

DOC = (REPO / "docs" / "writing-plugins.md").read_text(encoding="utf-8")
BLOCKS = dict(re.findall(r"```python\n# contract: (\w+)[^\n]*\n(.*?)```", DOC, flags=re.S))
PROTOCOLS = {"detector": protocols.Detector, "translator": protocols.Translator, "encoder": protocols.Encoder, "ranker": protocols.Ranker}


def test_every_kind_has_a_contract_block():
    assert set(BLOCKS) == set(PROTOCOLS)


@pytest.mark.parametrize("kind", sorted(PROTOCOLS))
def test_the_documented_class_satisfies_the_protocol_with_the_same_signatures(kind):
    namespace = {"BaseModel": BaseModel, "Sequence": Sequence, "np": np, "Detection": Detection, "Document": Document,
                 "Hit": Hit, "Query": Query, "EncodeMode": protocols.EncodeMode}
    exec("from __future__ import annotations\n" + BLOCKS[kind], namespace)
    [documented] = [v for k, v in namespace.items() if k.startswith("My")]
    protocol = PROTOCOLS[kind]
    assert set(protocols.REQUIRED_MEMBERS[kind]) <= set(vars(documented))
    for member in protocols.REQUIRED_MEMBERS[kind]:
        expected = getattr(protocol, member, None)
        if callable(expected):
            documented_params = list(inspect.signature(getattr(documented, member)).parameters)
            assert documented_params == list(inspect.signature(expected).parameters), member
            assert inspect.get_annotations(getattr(documented, member)) == inspect.get_annotations(expected), member


def test_every_optional_member_is_documented():
    for kind, members in protocols.OPTIONAL_METHODS.items():
        for member in members:
            assert f"`{member}" in DOC, f"{kind} optional member {member!r} is not in docs/writing-plugins.md"
