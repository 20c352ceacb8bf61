"""Engines run the shards of a build: in this process, in a local process pool, or on Ray."""

from __future__ import annotations

from typing import Callable

ENGINES = ("local", "ray")


def run_shards(config, out_dir: str, shards: list[tuple[int, list[str]]], *, workers: int = 1,
               engine: str = "local", strict: bool = False, on_done: Callable[[dict], None] | None = None) -> None:
    """Build every (index, frame_ids) shard; call ``on_done(summary)`` as each one commits."""
    from datagen.errors import ConfigError

    if engine == "local":
        from datagen.engines.local import run_local

        run_local(config, out_dir, shards, workers=workers, strict=strict, on_done=on_done)
    elif engine == "ray":
        from datagen.engines.ray_engine import run_ray

        run_ray(config, out_dir, shards, workers=workers, strict=strict, on_done=on_done)
    else:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
