"""How many threads the numerical libraries use while the service answers requests."""

from __future__ import annotations

import os

from threadpoolctl import threadpool_limits


def one_thread_per_kernel() -> None:
    """Run BLAS (numpy's) and OpenMP (PyTorch's) kernels on one thread each, unless ``OMP_NUM_THREADS`` is set.

    The service answers one batch of requests at a time while its event loop
    reads and writes HTTP on another core. A kernel spread over every core
    spins waiting for cores that are busy: on 2 shared cores, 8 clients asking
    in-process over 100k items got 80-85 answers/s with one BLAS thread and
    34-45 with two, at twice the CPU time per answer. Call it before the models
    load, so an encoder's own ``threads`` setting still wins.
    """
    if "OMP_NUM_THREADS" in os.environ:
        return
    # Read by the OpenMP runtimes that load later (PyTorch's, with the first model) ...
    os.environ["OMP_NUM_THREADS"] = "1"
    # ... while those loaded already (numpy's BLAS at least) are told directly.
    threadpool_limits(limits=1)
