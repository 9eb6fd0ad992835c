"""Persistent indexes: build once from a config (``pivotrec index``), open many times (``pivotrec serve``, ``run``, ``eval``).

``store.py`` writes and opens the index folder (documents, vectors per
ranker view, each ranker's saved structures, the config and its
fingerprint), ``fingerprint.py`` says what an index was built from,
``search.py`` answers requests over an opened index, ``update.py`` upserts
and deletes items, and ``reuse.py`` runs a batch over an index (``run`` and
``eval`` with ``index:``). Nothing is imported here, so ``pivotrec --help``
stays fast.
"""
