"""Run shards as Ray tasks (``pip install 'datagen[ray]'``). Same shards, same bytes as the local engine."""

from __future__ import annotations

from typing import Callable

from datagen._optional import require


def run_ray(config, out_dir: str, shards: list, *, workers: int = 1, strict: bool = False,
            on_done: Callable[[dict], None] | None = None) -> None:
    """Submit one Ray task per shard (at most ``workers`` at once on a local instance) and wait for all."""
    ray = require("ray", "ray")
    from datagen.pipeline import run_shard

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1)(run_shard)
        pending = [remote.remote(config, out_dir, index, ids, strict) for index, ids in shards]
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            summary = ray.get(finished[0])
            if on_done:
                on_done(summary)
    finally:
        if started_here:
            ray.shutdown()
