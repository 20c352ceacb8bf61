"""Run shards in this process (one worker) or in a pool of spawned processes."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from datagen.engines import DoneCallback, ShardRunner, WorkerDiedError


class LocalEngine:
    """``workers`` processes on this machine. Spawned, not forked: an OpenGL context does not survive a fork."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers

    def run(self, runner: ShardRunner, shards: list, on_done: DoneCallback | None = None) -> None:
        if self.workers == 1 or len(shards) <= 1:
            for index, frame_ids in shards:
                summary = runner(index, frame_ids)
                if on_done:
                    on_done(summary)
            return
        context = multiprocessing.get_context("spawn")
        with single_threaded_children(), ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                                             initializer=one_thread_per_worker) as pool:
            futures = [pool.submit(runner, index, ids) for index, ids in shards]
            try:
                for future in as_completed(futures):
                    summary = future.result()
                    if on_done:
                        on_done(summary)
            except BrokenProcessPool:
                raise WorkerDiedError("a worker process of the build died without a result (killed, or out of "
                                      "memory); run the same command again to resume, with fewer --workers") from None
            except BaseException:
                for future in futures:
                    future.cancel()
                raise


_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


@contextlib.contextmanager
def single_threaded_children():
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


def one_thread_per_worker() -> None:
    """Each worker process uses one core: the pool (or the cluster) provides the parallelism."""
    from datagen.render import raycast

    raycast.DEFAULT_THREADS[0] = 1
