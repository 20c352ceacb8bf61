"""Engines run the shards of a build: in this process, in a local process pool, or as Ray tasks.

An engine knows nothing of what a shard is: the build gives it a *shard runner*, a picklable
``runner(index, frame_ids) -> summary`` that builds and commits one shard (``pipeline.run_shard``
bound to a config and an output store), and the list of ``(index, frame_ids)`` to run. So the
pipeline imports the engines, and no engine imports the pipeline.
"""

from __future__ import annotations

from typing import Callable, Protocol

from datagen.errors import ConfigError, DatagenError

ENGINES = ("local", "ray")

#: Builds and commits one shard: ``runner(index, frame_ids) -> summary`` (a dict with "frames" and "records").
ShardRunner = Callable[[int, list], dict]
#: Called on the driver as each shard commits, with its summary.
DoneCallback = Callable[[dict], None]


class WorkerDiedError(DatagenError):
    """A worker process ended without a result (killed, or out of memory): a fault of the machine."""


class Engine(Protocol):
    def run(self, runner: ShardRunner, shards: list[tuple[int, list]], on_done: DoneCallback | None = None) -> None:
        """Run ``runner`` on every (index, frame_ids) shard; call ``on_done(summary)`` as each one commits."""


def make_engine(name: str, *, workers: int = 1, ray_address: str | None = None) -> Engine:
    """The engine called ``name``.

    Args:
        workers: processes of the local engine; CPUs of a Ray instance started here.
        ray_address: the Ray cluster to run on (``host:port``, ``ray://host:port``, ``auto``); None: the one
            ``RAY_ADDRESS`` names, else a local Ray started for this build.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers!r}")
    if name == "local":
        if ray_address is not None:
            raise ConfigError(f"--ray-address {ray_address} needs --engine ray")
        from datagen.engines.local import LocalEngine

        return LocalEngine(workers)
    if name == "ray":
        from datagen.engines.ray_engine import RayEngine

        return RayEngine(address=ray_address, workers=workers)
    raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {name!r}")
