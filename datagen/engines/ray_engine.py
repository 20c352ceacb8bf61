"""Run shards as Ray tasks (``pip install 'datagen[ray]'``): on a cluster, or on a local Ray started here.

Each shard is one task of one CPU. Ray runs a task again when its worker process dies or its node
leaves the cluster (up to ``max_retries`` times); the shard's commit (see datagen.store) makes a
retry, or two attempts racing, publish the shard once and whole. A task that raises (a fault of the
machine or of the build) is not retried: the build stops, committed shards stay, and the same
command resumes. Same shards, same bytes as the local engine: the driver reads the shards back in
their order, whatever order they finished in.
"""

from __future__ import annotations

import collections
import logging
import os
import socket

from datagen._optional import require
from datagen.engines import DoneCallback, ShardRunner, WorkerDiedError
from datagen.errors import DatagenError

log = logging.getLogger(__name__)

#: Times Ray runs a shard again after its worker process died or its node left.
DEFAULT_MAX_RETRIES = 3
#: Seconds to wait for the head node of ``--ray-address`` to answer before giving up.
CONNECT_TIMEOUT_S = 5.0
#: Shards submitted ahead per CPU of the cluster (the rest wait on the driver).
TASKS_PER_CPU = 2


class ClusterError(DatagenError):
    """The Ray cluster of ``--ray-address`` cannot be reached."""


class RayEngine:
    """Shards as Ray tasks.

    Args:
        address: ``host:port`` of a running cluster's head node (GCS), ``ray://host:port`` (Ray Client),
            or ``auto`` (the cluster this machine belongs to); None: ``RAY_ADDRESS`` if set, else a
            local Ray with ``workers`` CPUs, started for this build and stopped after it. A process
            already connected to Ray (``ray.init`` called before) uses that connection.
    """

    def __init__(self, address: str | None = None, workers: int = 1, max_retries: int = DEFAULT_MAX_RETRIES) -> None:
        require("ray", "ray")  # before any work: a missing extra names its pip command
        self.address = address or os.environ.get("RAY_ADDRESS") or "local"
        self.workers = workers
        self.max_retries = max_retries
        if self.address != "local":
            check_reachable(self.address)  # seconds, where Ray itself would retry for minutes

    def run(self, runner: ShardRunner, shards: list, on_done: DoneCallback | None = None) -> None:
        if not shards:
            return
        ray = require("ray", "ray")
        connected_here = self._connect(ray)
        try:
            self._run(ray, runner, shards, on_done)
        finally:
            if connected_here:
                ray.shutdown()  # stops a Ray started here; only disconnects from a cluster

    def _connect(self, ray) -> bool:
        """Attach this process to Ray; True if it was not attached before."""
        if ray.is_initialized():
            return False
        address = self.address
        if address == "local":
            ray.init(address="local", num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
            return True
        try:
            ray.init(address=address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ClusterError(f"--ray-address {address}: cannot connect to Ray ({exc})") from None
        log.info("connected to the Ray cluster at %s: %s", address, ray.cluster_resources())
        return True

    def _run(self, ray, runner: ShardRunner, shards: list, on_done: DoneCallback | None) -> None:
        task = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)(run_shard_task)
        runner_ref = ray.put(runner)
        waiting = collections.deque(shards)
        limit = max(1, TASKS_PER_CPU * int(ray.cluster_resources().get("CPU", 1)))
        pending: dict = {}
        try:
            while waiting or pending:
                while waiting and len(pending) < limit:
                    index, frame_ids = waiting.popleft()
                    pending[task.remote(runner_ref, index, frame_ids)] = index
                finished, _ = ray.wait(list(pending), num_returns=1)
                index = pending.pop(finished[0])
                summary = self._result(ray, finished[0], index)
                if on_done:
                    on_done(summary)
        except BaseException:
            for ref in pending:
                ray.cancel(ref)
            raise

    def _result(self, ray, ref, index: int) -> dict:
        """The summary of a finished task; its own exception if it raised one."""
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None
            raise
        except ray.exceptions.RayError as exc:  # the worker died, the node left, more often than max_retries
            raise WorkerDiedError(
                f"shard {index}: its Ray worker died {self.max_retries + 1} times ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}); run the same command again to resume") from None


def run_shard_task(runner: ShardRunner, index: int, frame_ids: list) -> dict:
    """The body of a shard's Ray task, in a worker process: one core, then the shard runner."""
    from datagen.engines.local import one_thread_per_worker

    one_thread_per_worker()
    return runner(index, frame_ids)


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ClusterError unless the head node of ``address`` accepts a TCP connection within ``timeout_s``.

    Ray's own connection attempt retries for minutes; this answers in seconds. ``auto`` is left to Ray,
    which says at once when no cluster runs on this machine.
    """
    if address == "auto":
        return
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClusterError(f"--ray-address {address!r}: expected host:port (the head node's GCS, port 6379 by "
                           "default), ray://host:port (Ray Client), or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ClusterError(f"--ray-address {address}: no Ray cluster answers there ({exc.strerror or exc}, "
                           f"waited up to {timeout_s:g} s); start one (`ray start --head` on the head node, or "
                           "`ray up cluster.yaml`) or check the address") from None
