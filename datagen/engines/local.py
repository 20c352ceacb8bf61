"""Run shards in this process (one worker) or in a pool of spawned processes."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Callable

from datagen.errors import ConfigError, DatagenError


class WorkerDiedError(DatagenError):
    """A worker process ended without a result (killed, or out of memory): a fault of the machine."""


def run_local(config, out_dir: str, shards: list, *, workers: int = 1, strict: bool = False,
              on_done: Callable[[dict], None] | None = None) -> None:
    """Build the shards with ``workers`` processes. Spawned, not forked: an OpenGL context does not survive a fork."""
    from datagen.pipeline import run_shard

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers!r}")
    if workers == 1 or len(shards) <= 1:
        for index, frame_ids in shards:
            summary = run_shard(config, out_dir, index, frame_ids, strict)
            if on_done:
                on_done(summary)
        return
    context = multiprocessing.get_context("spawn")
    with _single_threaded_children(), \
            ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_one_thread_per_worker) as pool:
        futures = [pool.submit(run_shard, config, out_dir, index, ids, strict) for index, ids in shards]
        try:
            for future in as_completed(futures):
                summary = future.result()
                if on_done:
                    on_done(summary)
        except BrokenProcessPool:
            raise WorkerDiedError(f"a worker process of the build in {out_dir} died without a result (killed, or out "
                                  "of memory); run the same command again to resume, with fewer --workers") from None
        except BaseException:
            for future in futures:
                future.cancel()
            raise


_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


@contextlib.contextmanager
def _single_threaded_children():
    """Spawned workers inherit the environment: give their BLAS and OpenMP pools one thread each."""
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    for name in _THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _one_thread_per_worker() -> None:
    """Each worker process uses one core: the pool provides the parallelism."""
    from datagen.render import raycast

    raycast.DEFAULT_THREADS[0] = 1
