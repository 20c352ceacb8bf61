"""The work the source benchmarks time: a frame's labels as a build finds them, and whole frames of a build.

``labelled_frame`` takes one frame through the build's steps before sampling, with the
pipeline's own pieces (``datagen.pipeline``, as ``ShardWorker`` runs them): load it, read
its image, plan its normalisation with the build's seeded draw, then either ray-cast a mesh
into the normalised camera (on the build's label stride) or find the labels in the frame's
own image (``source_image_view``: depth map, or points through the z-buffer and see-through
filter) and carry image and labels to the unified focal length. ``shard_seconds`` times
``ShardWorker`` itself: the same, then sampling, markers, encoding and writing every record.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from datagen.config import BuildConfig
from datagen.images import load_frame_image
from datagen.normalize import normalize, plan_normalization
from datagen.pipeline import ShardWorker, masked_view, mesh_view, prepare_out_dir, source_image_view, uses_mesh
from datagen.sampling import frame_rng
from datagen.types import DepthView


def labelled_frame(source, config: BuildConfig, frame_id: str) -> tuple[np.ndarray, DepthView]:
    """The normalised image and labels of one frame, as a build makes them before sampling."""
    frame = source.load_frame(frame_id)
    image = load_frame_image(frame)
    chain = plan_normalization(frame.camera, config.normalize, frame_rng(config.seed, frame_id, "normalize"))
    if uses_mesh(frame, config):
        stride = config.mesh_label_stride_px
        offset = tuple(frame_rng(config.seed, frame_id, "stride").integers(0, stride, size=2))
        return chain.apply_image(image), masked_view(mesh_view(frame.mesh, chain.camera, stride, offset), frame)
    image, view, _ = normalize(image, source_image_view(frame, config, source.occlusion_defaults), chain)
    return image, view


def shard_seconds(config: BuildConfig, frame_ids: list[str], repeat: int, source=None) -> float:
    """Best of ``repeat`` builds of ``frame_ids`` by one ShardWorker, in seconds per frame.

    ``source``: a source instance to reuse (one whose scene or tables are already read), as a
    worker of a real build keeps its own; None: the worker makes one.
    """
    best = float("inf")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            prepare_out_dir(config, Path(out))
            worker = ShardWorker(config, Path(out))
            if source is not None:
                worker.source = source
            started = time.perf_counter()
            worker.run(0, frame_ids)
            best = min(best, (time.perf_counter() - started) / len(frame_ids))
    return best
