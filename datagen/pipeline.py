"""The build: frames in, canonical question/answer records out.

For each shard of frames a worker reads top to bottom: load the frame, turn its
ground truth into a DepthView, normalise the camera, sample pixels, run the
tasks, draw markers, fill the templates, write images and records. The pose
task pairs frames across shards, so it runs last, from what the shards noted
about each frame.

A shard commits by publishing its records file last, once, after its images and notes
(datagen.store: a hard link on a folder, a create-only PUT on an object store); an
interrupted build resumes by skipping committed shards, and never leaves a half record behind.
The shards run on an engine (datagen.engines: a local process pool, or Ray tasks on a
cluster) given ``run_shard`` bound to the config and the output; the driver then writes the
pose records, the frame index and the manifest.

Faults of the input (a corrupt image, a bad calibration: SourceError and the other
errors of a frame's data) skip the frame, counted by reason in the manifest. Faults of
the machine (OSError while writing: disk full, read-only, permissions; MemoryError)
stop the build with the shard uncommitted, so the same command resumes it.

The output (a folder, shared or not, or an object store prefix: datagen.store) is datagen's
only where datagen wrote (datagen.ownership): every file is claimed in its ledger before it
appears, and only claimed files are ever replaced, swept as orphans or removed by ``overwrite``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

import datagen
from datagen import records as layout
from datagen.config import BuildConfig
from datagen.errors import (CameraError, ConfigError, DatagenError, GeometryError, MissingDependencyError,
                            RegistryError, SourceError, TemplateError)
from datagen.geometry.projection import OcclusionFilter, project_points, view_from_depth_map
from datagen.geometry.se3 import compose, invert
from datagen.engines import Engine, make_engine
from datagen.images import ImageReadError, load_frame_image, store_image
from datagen.ownership import OwnershipError
from datagen.markers import MARKERS
from datagen.normalize import normalize, plan_normalization
from datagen.render.raycast import cast_rays
from datagen.render.scene import Scene
from datagen.sampling import FrameInfo, frame_rng, sample_frame_pairs, sample_pairs, sample_points, snap_to_pixels
from datagen.sources import REGISTRY as SOURCES
from datagen.sources.base import Selection, Source
from datagen.store import OutputStore, StoreWriter, open_store, sha256_bytes
from datagen.tasks import REGISTRY as TASKS
from datagen.templates import load_templates
from datagen.types import Camera, DepthView, Frame, QARecord, Sample

log = logging.getLogger(__name__)

POINT_TASKS = ("distance", "axis_distance", "speed", "time")
WORK_DIR = "work"
OVERLAP_POINTS = 256
POSE_RECORDS = "pose.jsonl"
#: Largest normalised image (pixels, at any step of the chain): beyond, the frame is skipped as bad_camera.
MAX_NORMALIZED_PIXELS = 64_000_000


class BuildConflictError(DatagenError):
    """The output folder holds a build made with a different configuration."""


@dataclass
class ShardResult:
    """What one shard did: its records, the frames it noted for pairing, and why frames were skipped."""

    index: int
    records: list = field(default_factory=list)
    frames: list = field(default_factory=list)
    skipped: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)  # frame id -> why it was skipped
    filtered: int = 0


def source_class(name: str) -> type:
    """A registered source by name, or a Source subclass given as ``package.module:ClassName``.

    Raises:
        ConfigError: the module cannot be imported, or the name is not a Source subclass there.
    """
    if ":" not in name:
        return SOURCES.load_builtins().get(name)
    module_name, _, class_name = name.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"source {name!r}: cannot import {class_name} from {module_name} ({exc})") from None
    except Exception as exc:  # the user's module failed while being imported
        raise ConfigError(f"source {name!r}: importing {module_name} failed ({type(exc).__name__}: {exc})") from exc
    if not (isinstance(found, type) and issubclass(found, Source)):
        raise ConfigError(f"source {name!r}: {module_name}.{class_name} is a {type(found).__name__}, not a datagen "
                          "source (a subclass of datagen.sources.base.Source)")
    return found


def make_source(config: BuildConfig):
    """Instantiate the configured source with its nested Config, read field by field from ``source_options``."""
    from datagen.synthetic.schema import read_dataclass

    cls = source_class(config.source)
    options = dict(config.source_options)
    if config.root is not None:
        options["root"] = Path(config.root)
    return cls(read_dataclass(cls.Config, options, f"source {config.source!r}", "source_options"))


def split_of(frame: Frame, config: BuildConfig) -> str:
    """The frame's official split, else a deterministic split of its whole sequence."""
    if frame.split is not None:
        return frame.split
    key = frame.sequence or frame.frame_id
    unit = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    train, val, _ = config.split_ratios
    return "train" if unit < train else ("val" if unit < train + val else "test")


def uses_mesh(frame: Frame, config: BuildConfig) -> bool:
    """Whether the labels come from rendering the frame's mesh scene."""
    return isinstance(frame.mesh, Scene) and config.ground_truth in ("auto", "mesh")


def mesh_view(scene: Scene, camera: Camera, stride_px: int = 1, offset_px: tuple = (0, 0)) -> DepthView:
    """Labels at pixel centres of ``camera`` that see the scene, by ray casting in float64.

    Each label is the first surface hit along its pixel's ray, so pixel, z and range agree exactly.

    Args:
        scene: the frame's mesh scene, world frame.
        camera: the normalised camera, with ``T_world_cam``.
        stride_px: label every ``stride_px``-th pixel in u and v (1 = every pixel).
        offset_px: (u, v) of the first labelled pixel, each below ``stride_px``; drawn per frame so
            that every pixel can be queried across frames.
    """
    u, v = np.meshgrid(np.arange(offset_px[0], camera.width, stride_px, dtype=np.float64),
                       np.arange(offset_px[1], camera.height, stride_px, dtype=np.float64))
    pixels = np.column_stack([u.ravel(), v.ravel()])
    rays_cam = camera.rays(pixels)
    ok = np.all(np.isfinite(rays_cam), axis=1) & (rays_cam[:, 2] > 0)
    R, centre = camera.T_world_cam[:3, :3], camera.T_world_cam[:3, 3]
    directions = rays_cam[ok] @ R.T
    hits = cast_rays(scene, centre, directions)
    hit = hits.hit
    if scene.cull_back_faces:  # a scan seen from behind its surface: a hole, not ground truth
        hit &= np.einsum("ij,ij->i", hits.normals, directions) < 0
    index = np.flatnonzero(ok)[hit]
    points_cam = rays_cam[index] * hits.t_m[hit, None]
    return DepthView.from_points(camera, points_cam, pixels[index], depth_from="mesh")


def source_image_view(frame: Frame, config: BuildConfig, source_defaults: dict | None = None) -> DepthView:
    """The frame's labels in its own image, as a build finds them (mesh, depth map or points), masked."""
    if uses_mesh(frame, config):
        return masked_view(mesh_view(frame.mesh, frame.camera), frame)
    return masked_view(ground_truth_view(frame, config, source_defaults), frame)


def masked_view(view: DepthView, frame: Frame) -> DepthView:
    """The labels of ``view`` whose point lands on a True pixel of the frame's ``label_mask``.

    Each label's camera-frame point is projected through the frame's own camera (its lens
    included), so the mask applies alike to labels in the frame's image and in a normalised one.
    """
    if frame.label_mask is None or len(view) == 0:
        return view
    uv, valid = frame.camera.project(view.points_cam)
    valid &= frame.camera.contains(uv)
    cols, rows = np.floor(uv[valid] + 0.5).astype(np.int64).T
    keep = np.zeros(len(view), dtype=bool)
    keep[np.flatnonzero(valid)] = frame.label_mask[rows, cols]
    return view.subset(keep)


def ground_truth_view(frame: Frame, config: BuildConfig, source_defaults: dict | None = None) -> DepthView:
    """The frame's labels in its own image: a dense depth map, or points projected with a z-buffer.

    Points are LiDAR unless the frame's ``meta["points_from"]`` says otherwise (a depth map
    registered to another camera and moved into this one is "depth_map"). ``source_defaults``
    are the source's see-through filter options (``Source.occlusion_defaults``).
    """
    use_map = frame.depth_m is not None and config.ground_truth in ("auto", "mesh", "depth_map")
    if use_map:
        return view_from_depth_map(frame.depth_m, frame.camera, kind=frame.depth_kind,
                                   depth_from=frame.meta.get("depth_from", "depth_map"))
    if frame.points is None:
        raise SourceError(f"frame {frame.frame_id} has no {config.ground_truth} ground truth")
    return project_points(frame.points, frame.camera, frame.T_cam_points,
                          occlusion=occlusion_filter(config, source_defaults),
                          depth_from=frame.meta.get("points_from", "lidar"))


def occlusion_filter(config: BuildConfig, source_defaults: dict | None = None) -> OcclusionFilter | None:
    """The see-through filter: the build's explicit options, else the source's, else the filter's own."""
    options = config.occlusion
    if not options.enabled:
        return None
    return OcclusionFilter(**{**(source_defaults or {}), **options.overrides()})


class ShardWorker:
    """Builds the records of one shard of frames. One instance per process.

    Args:
        out: the build's output: a folder, an fsspec URL, or an OutputStore.
    """

    def __init__(self, config: BuildConfig, out: str | Path | OutputStore) -> None:
        self.config = config
        self.store = open_store(out)
        self.source = make_source(config)
        self.templates = load_templates(tasks=[t for t in config.tasks])
        self.marker = MARKERS.get(config.marker)()
        self.writer: StoreWriter | None = None
        TASKS.load_builtins()
        _check_answer_styles(config, self.templates)

    def run(self, index: int, frame_ids: list[str], strict: bool = False) -> ShardResult:
        """Build the frames of shard ``index``; a fault of a frame's input skips it (unless ``strict``).

        Raises:
            OSError, MemoryError: a fault of the machine; nothing of the shard is committed.
            DatagenError: with ``strict``, the first bad frame; or a fault of the build itself
                (configuration, templates, a file in the way).
        """
        self.writer = self.store.writer(f"shard-{index:05d}")
        result = ShardResult(index)
        for frame_id in frame_ids:
            try:
                self._process(frame_id, result)
            except (DatagenError, ValueError) as exc:
                if strict or not is_input_fault(exc):
                    raise
                reason = _skip_reason(exc)
                log.info("skipping frame %s: %s", frame_id, exc)  # the CLI names the first few; the manifest all
                result.skipped.setdefault(reason, []).append(frame_id)
                result.errors[frame_id] = str(exc)
        return result

    def _process(self, frame_id: str, result: ShardResult) -> None:
        config = self.config
        frame = self.source.load_frame(frame_id)  # 1. load
        split = split_of(frame, config)
        if split not in config.splits:
            result.filtered += 1
            return
        image = load_frame_image(frame)
        _check_principal_point(frame.camera, frame_id)
        chain = plan_normalization(frame.camera, config.normalize, frame_rng(config.seed, frame_id, "normalize"))
        _check_normalized_size(chain, frame_id)
        if uses_mesh(frame, config):  # 2-3. a mesh is rendered straight into the normalised camera: exact labels
            stride = config.mesh_label_stride_px
            offset = tuple(frame_rng(config.seed, frame_id, "stride").integers(0, stride, size=2))
            view = masked_view(mesh_view(frame.mesh, chain.camera, stride, offset), frame)
            image, valid = chain.apply_image(image), chain.valid_mask()
        else:  # 2. labels in the frame's own image, 3. carried to the unified focal length
            view = source_image_view(frame, config, self.source.occlusion_defaults)
            image, view, valid = normalize(image, view, chain)
        if len(view) == 0:
            raise NoLabelsError(f"frame {frame_id}: no valid depth label in the normalised image")
        context = _FrameContext(frame, split, chain, view, image, valid)
        if any(task in config.tasks for task in POINT_TASKS):
            result.records += self._point_records(context)
        if "two_point" in config.tasks:
            result.records += self._pair_records(context)
        result.frames.append(self._frame_note(context))

    def _point_records(self, ctx: "_FrameContext") -> list[QARecord]:
        config = self.config
        index = sample_points(ctx.view, config.sampling, frame_rng(config.seed, ctx.frame.frame_id, "points"),
                              ctx.valid)
        pixels, points = snap_to_pixels(ctx.view, index)
        out = []
        for k, (pixel, point) in enumerate(zip(pixels, points)):
            marked = self.marker.draw(ctx.image, pixel[None, :])
            image = self._store_image(marked)
            sample = self._sample(ctx, pixel[None, :], point[None, :])
            for task in (t for t in config.tasks if t in POINT_TASKS):
                out.append(self._record(task, k, sample, [image], ctx))
        return out

    def _pair_records(self, ctx: "_FrameContext") -> list[QARecord]:
        config = self.config
        pairs = sample_pairs(ctx.view, config.sampling, frame_rng(config.seed, ctx.frame.frame_id, "pairs"),
                             ctx.valid)
        out = []
        for k, pair in enumerate(np.asarray(pairs).reshape(-1, 2)):
            pixels, points = snap_to_pixels(ctx.view, pair)
            marked = self.marker.draw(ctx.image, pixels, labels=["A", "B"])
            image = self._store_image(marked)
            out.append(self._record("two_point", k, self._sample(ctx, pixels, points), [image], ctx))
        return out

    def _frame_note(self, ctx: "_FrameContext") -> dict:
        """What the pose task needs of a frame later: its camera, split, unmarked image, some 3D points."""
        config = self.config
        rng = frame_rng(config.seed, ctx.frame.frame_id, "overlap")
        keep = np.sort(rng.permutation(len(ctx.view))[:OVERLAP_POINTS])
        wanted = config.keep_unmarked_images or "pose" in config.tasks
        image = self._store_image(ctx.image) if wanted else None
        camera = ctx.chain.camera
        return {"frame_id": ctx.frame.frame_id, "sequence": ctx.frame.sequence, "split": ctx.split,
                "source": ctx.frame.source, "image": image, "K": camera.K.tolist(), "width": camera.width,
                "height": camera.height, "T_world_cam": camera.T_world_cam.tolist(),
                "points_cam": ctx.view.points_cam[keep].tolist(), "depth_from": ctx.view.depth_from,
                "pose_known": bool(ctx.frame.meta.get("pose_known", True)), "transforms": ctx.chain.to_record()}

    def _store_image(self, image: np.ndarray) -> str:
        return store_image(self.writer, image, self.config.image_format, self.config.jpeg_quality)

    def _sample(self, ctx: "_FrameContext", pixels: np.ndarray, points: np.ndarray) -> Sample:
        return Sample(frame_ids=(ctx.frame.frame_id,), cameras=(ctx.chain.camera,), pixels=pixels,
                      points_cam=points, source=ctx.frame.source, split=ctx.split,
                      depth_from=ctx.view.depth_from, seed=self.config.seed)

    def _record(self, task: str, k: int, sample: Sample, images: list[str], ctx: "_FrameContext") -> QARecord:
        return make_record(self.config, self.templates, self.marker, task, k, sample, images,
                           transforms=[ctx.chain.to_record()])


@dataclass
class _FrameContext:
    frame: Frame
    split: str
    chain: object
    view: DepthView
    image: np.ndarray
    valid: np.ndarray  # (H, W) bool: pixels of the normalised image that show source content


class NoLabelsError(DatagenError):
    """A frame has no usable depth label."""


#: Why a frame was skipped, by the most specific error class first.
SKIP_REASONS = ((NoLabelsError, "no_valid_pixel"), (ImageReadError, "image_unreadable"),
                (SourceError, "source_error"), (CameraError, "bad_camera"), (GeometryError, "bad_geometry"),
                (ValueError, "invalid_value"))
#: Errors that are the build's, not a frame's: they stop the build even without ``strict``.
BUILD_FAULTS = (ConfigError, TemplateError, OwnershipError, RegistryError, MissingDependencyError)


def is_input_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is a fault of one frame's input data (skipped and counted), not of the machine or build."""
    return isinstance(exc, (DatagenError, ValueError)) and not isinstance(exc, BUILD_FAULTS)


def _skip_reason(exc: Exception) -> str:
    return next((reason for cls, reason in SKIP_REASONS if isinstance(exc, cls)), "error")


def _check_principal_point(camera: Camera, frame_id: str) -> None:
    """Refuse a principal point more than one image size outside the image: no lens has one, and the
    off-axis rays it implies turn every label into nonsense (thousands of kilometres)."""
    cx, cy = camera.K[0, 2], camera.K[1, 2]
    if not (-camera.width <= cx <= 2 * camera.width and -camera.height <= cy <= 2 * camera.height):
        raise CameraError(f"frame {frame_id}: principal point ({cx:g}, {cy:g}) lies far outside the "
                          f"{camera.width}x{camera.height} image")


def _check_normalized_size(chain, frame_id: str) -> None:
    """Refuse a chain whose image grows beyond MAX_NORMALIZED_PIXELS at any step (a focal far below the target)."""
    camera = chain.source_camera
    for step in chain.steps:
        camera = step.camera(camera)
        if camera.width * camera.height > MAX_NORMALIZED_PIXELS:
            raise CameraError(f"frame {frame_id}: normalising focal length {chain.source_camera.fx:g} px to "
                              f"{chain.camera.fx:g} px makes a {camera.width}x{camera.height} image "
                              f"(more than {MAX_NORMALIZED_PIXELS // 1_000_000} MP)")


def _check_answer_styles(config: BuildConfig, templates: dict) -> None:
    """Every task must have at least one of ``config.answer_styles`` among its templates."""
    if not config.answer_styles:
        return
    for task, template_set in templates.items():
        if not set(config.answer_styles) & set(template_set.answer_styles):
            raise ConfigError(f"answer_styles: none of {list(config.answer_styles)} is an answer style of task "
                              f"{task!r} ({template_set.path} has {', '.join(template_set.answer_styles)})")


def make_record(config: BuildConfig, templates: dict, marker, task: str, k: int, sample: Sample,
                images: list[str], transforms: list) -> QARecord:
    """Run one task on a sample, fill its template, and assemble the canonical record."""
    rng = frame_rng(config.seed, sample.frame_ids[0], task, str(k))
    truth = TASKS.get(task)(sample, rng, config.task_options)
    styles = config.answer_styles
    style = None if not styles else str(rng.choice([s for s in styles if s in templates[task].answer_styles]))
    qa = templates[task].render(truth, marker, rng, style=style)
    provenance = {"source": sample.source, "frames": list(sample.frame_ids), "depth_from": sample.depth_from,
                  "transforms": transforms if len(transforms) > 1 else transforms[0],
                  "marker": marker.name, "seed": config.seed}
    return QARecord(id=f"{sample.frame_ids[0]}/{task}/{k}", task=task, split=sample.split, images=tuple(images),
                    question=qa.question, answer=qa.answer, value=float(truth.value), unit=truth.unit,
                    template_id=qa.template_id, label=truth.label, camera=sample.cameras[0].intrinsics(),
                    provenance=provenance)


def pose_records(config: BuildConfig, notes: list[dict], templates: dict, marker) -> list[QARecord]:
    """Pair frames of one sequence and split, and write one pose record per pair.

    A frame whose source marks its pose unknown (``meta["pose_known"] = False``, e.g. ScanNet's
    ``-inf`` poses) takes part in no pair.
    """
    notes = [note for note in notes if note.get("pose_known", True)]
    by_id = {note["frame_id"]: note for note in notes}
    infos = [FrameInfo(frame_id=n["frame_id"], sequence=n["sequence"], split=n["split"], camera=_camera(n),
                       points_cam=np.asarray(n["points_cam"], dtype=np.float64).reshape(-1, 3)) for n in notes]
    out = []
    for first, second in sample_frame_pairs(infos, config.sampling, config.seed):
        a, b = by_id[first], by_id[second]
        cam_a, cam_b = _camera(a), _camera(b)
        T_cam0_cam1 = compose(invert(cam_a.T_world_cam), cam_b.T_world_cam)
        sample = Sample(frame_ids=(first, second), cameras=(cam_a, cam_b), pixels=np.zeros((0, 2)),
                        points_cam=np.zeros((0, 3)), source=a["source"], split=a["split"],
                        depth_from=a["depth_from"], seed=config.seed, T_cam0_cam1=T_cam0_cam1)
        out.append(make_record(config, templates, marker, "pose", 0, sample, [a["image"], b["image"]],
                               transforms=[a["transforms"], b["transforms"]]))
    return out


def _camera(note: dict) -> Camera:
    return Camera(K=np.asarray(note["K"]), width=note["width"], height=note["height"],
                  T_world_cam=np.asarray(note["T_world_cam"]))


# --- the build driver -------------------------------------------------------------------------

ProgressCallback = Callable[[int, int], None]  # (frames finished in this call, records written)


def shard_paths(index: int) -> tuple[str, str]:
    """The records file and the frame-notes file of a shard, relative to the build's root; the records
    file is the commit point."""
    name = f"shard-{index:05d}"
    return f"{layout.RECORDS_DIR}/{name}.jsonl", f"{WORK_DIR}/{name}.json"


def run_shard(config: BuildConfig, out: str | Path | OutputStore, index: int, frame_ids: list[str],
              strict: bool = False) -> dict:
    """Build one shard and commit it; returns its summary. Runs in a worker process (or a Ray task).

    Its images and notes are written first, its records last, once (``StoreWriter.publish``): an attempt
    that finds the same records published by another attempt of the shard changes nothing.
    """
    worker = _worker(config, out)
    result = worker.run(index, frame_ids, strict=strict)
    records_path, notes_path = shard_paths(index)
    summary = {"index": index, "frames": len(frame_ids), "filtered": result.filtered, "skipped": result.skipped,
               "errors": result.errors, "notes": result.frames, "records": len(result.records)}
    worker.writer.flush()
    worker.writer.put(notes_path, json.dumps(summary).encode())
    worker.writer.publish(records_path, "".join(r.to_json() + "\n" for r in result.records).encode())
    return summary


_WORKERS: dict = {}


def _worker(config: BuildConfig, out: str | Path | OutputStore) -> ShardWorker:
    store = open_store(out)
    key = (config.fingerprint(), store.identity())
    if key not in _WORKERS:
        _WORKERS.clear()
        _WORKERS[key] = ShardWorker(config, store)
    return _WORKERS[key]


def prepare_out_dir(config: BuildConfig, out: str | Path | OutputStore, overwrite: bool = False,
                    allow_nonempty: bool = False) -> OutputStore:
    """Create the build's root, or check that the build there was made with this config; returns its store.

    Args:
        overwrite: replace a build of another config (only the files datagen wrote are removed).
        allow_nonempty: build in a folder that holds other files and is not a datagen build;
            datagen never changes or removes those.

    Raises:
        BuildFolderError: ``out`` is a file, or holds other files and ``allow_nonempty`` is False.
        StoreError: an object store that cannot be used (credentials, bucket).
        BuildConflictError: the folder holds a build of another config and ``overwrite`` is False.
        OwnershipError: a file datagen would write is there and was not written by datagen.
    """
    store = open_store(out)
    store.claim_root(allow_nonempty)
    if store.exists(layout.BUILD_CONFIG) and _previous_fingerprint(store, overwrite) != config.fingerprint():
        if not overwrite:
            raise BuildConflictError(
                f"{store.url} holds a build with a different configuration ({store.location(layout.BUILD_CONFIG)}); "
                "use another --out, or --overwrite to replace it (only the files datagen wrote are removed)")
        removed = store.remove_owned_files()
        log.info("%s: removed %d files of the previous build", store.url, removed)
    store.prepare()
    store.writer().put(layout.BUILD_CONFIG, config.to_yaml().encode())
    return store


def check_out_dir(out: str | Path | OutputStore, allow_nonempty: bool = False) -> OutputStore:
    """Raise unless ``out`` can take a build: new, empty, a datagen build, or ``allow_nonempty``; for an
    object store, also reachable with these credentials and its bucket there. Returns its store."""
    store = open_store(out)
    store.check(allow_nonempty)
    return store


def _previous_fingerprint(store: OutputStore, overwrite: bool) -> str | None:
    """The fingerprint of the config in ``build.yaml`` (None if it cannot be read and ``overwrite``)."""
    from datagen.config import config_from_yaml

    relpath = layout.BUILD_CONFIG
    if not store.owned(relpath, store.claims([relpath]).get(relpath)):
        raise OwnershipError.not_written_by_datagen(store.location(relpath))
    try:
        return config_from_yaml(store.read_bytes(relpath), store.location(relpath)).fingerprint()
    except ConfigError as exc:
        if overwrite:
            return None
        raise BuildConflictError(f"{store.location(relpath)}: the build there has a configuration this datagen "
                                 f"cannot read ({exc}); use another --out, or --overwrite to replace it") from None


def select_frames(config: BuildConfig, source: Source | None = None) -> list[str]:
    """The ids of the frames a build uses: the source's, filtered by cameras, splits, every and frames.

    Args:
        source: the configured source, if already made (else it is made here).
    """
    selection = Selection(cameras=config.cameras, splits=config.splits, every=config.every, limit=config.frames)
    return (source if source is not None else make_source(config)).select(selection, config.source)


def plan_shards(config: BuildConfig) -> list[list[str]]:
    """Frame ids cut into shards of ``shard_size``, in the source's order."""
    frame_ids = select_frames(config)
    size = config.shard_size
    return [frame_ids[i: i + size] for i in range(0, len(frame_ids), size)]


def build(config: BuildConfig, out: str | Path | OutputStore, *, workers: int = 1, engine: str | Engine = "local",
          ray_address: str | None = None, strict: bool = False, overwrite: bool = False,
          allow_nonempty: bool = False, progress: ProgressCallback | None = None,
          shards: list[list[str]] | None = None) -> dict:
    """Run (or resume) a build into ``out`` and return its manifest.

    Args:
        out: a folder (local, or shared by every node), an fsspec URL (``s3://bucket/prefix``), or an OutputStore.
        engine: ``"local"``, ``"ray"`` (see ``engines.make_engine`` for ``workers`` and ``ray_address``),
            or an Engine.
        shards: from ``plan_shards``, if already made.

    Raises:
        OSError, MemoryError: a fault of the machine; the same call resumes the build.
        DatagenError: see ``prepare_out_dir``; with ``strict``, the first bad frame.
    """
    if isinstance(engine, str):
        engine = make_engine(engine, workers=workers, ray_address=ray_address)
    store = prepare_out_dir(config, out, overwrite, allow_nonempty)
    shards = plan_shards(config) if shards is None else shards
    files = _BuildFiles(store, len(shards))
    todo = [(i, ids) for i, ids in enumerate(shards) if not files.committed(i)]
    for index, _ in todo:
        files.check_free(*shard_paths(index), listed=True)
    log.info("%d shards of up to %d frames; %d to build", len(shards), config.shard_size, len(todo))

    def done(summary: dict) -> None:
        if progress is not None:
            progress(summary["frames"], summary["records"])

    engine.run(functools.partial(run_shard, config, store, strict=strict), todo, on_done=done)
    return _finish(config, files, len(shards))


def _finish(config: BuildConfig, files: "_BuildFiles", shard_count: int) -> dict:
    """After every shard committed: pose records, frame index, orphan sweep, manifest."""
    store = files.store
    summaries = [json.loads(data) for _, data in store.read_many([shard_paths(i)[1] for i in range(shard_count)])]
    record_paths = [shard_paths(i)[0] for i in range(shard_count)]
    if "pose" in config.tasks:
        record_paths.append(_write_pose_records(config, files, summaries))
    indexed_images = _write_frame_index(config, files, summaries)
    counts, used_images, checksums = _scan_records(store, record_paths)
    used_images |= indexed_images
    _remove_orphan_images(store, used_images)
    manifest = _manifest(config, summaries, counts, checksums, len(used_images))
    files.write(layout.MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    store.compact()
    return manifest


class _BuildFiles:
    """The files of a build with fixed names, and whether datagen wrote the ones already there."""

    def __init__(self, store: OutputStore, shard_count: int) -> None:
        self.store = store
        self.writer = store.writer()
        fixed = [layout.MANIFEST, layout.FRAMES_INDEX, f"{layout.RECORDS_DIR}/{POSE_RECORDS}"]
        fixed += [path for i in range(shard_count) for path in shard_paths(i)]
        self.claims = store.claims(fixed)
        self.present = {path for folder in {p.rpartition("/")[0] for p in fixed} for path in store.listing(folder)}

    def owned(self, relpath: str) -> bool:
        return self.store.owned(relpath, self.claims.get(relpath))

    def committed(self, index: int) -> bool:
        return all(relpath in self.present and self.owned(relpath) for relpath in shard_paths(index))

    def check_free(self, *relpaths: str, listed: bool = False) -> None:
        """Raise OwnershipError if a file datagen did not write is at one of ``relpaths``.

        Args:
            listed: go by the listing made when the build started (one request per folder, not one per file).
        """
        for relpath in relpaths:
            there = relpath in self.present if listed else self.store.exists(relpath)
            if there and not self.owned(relpath):
                raise OwnershipError.not_written_by_datagen(self.store.location(relpath))

    def write(self, relpath: str, data: bytes) -> None:
        self.check_free(relpath)
        self.writer.put(relpath, data)


def _write_pose_records(config: BuildConfig, files: _BuildFiles, summaries: list[dict]) -> str:
    notes = [note for summary in summaries for note in summary["notes"]]
    templates = load_templates(tasks=["pose"])
    TASKS.load_builtins()
    records = pose_records(config, notes, templates, MARKERS.get(config.marker)())
    relpath = f"{layout.RECORDS_DIR}/{POSE_RECORDS}"
    files.write(relpath, "".join(r.to_json() + "\n" for r in records).encode())
    return relpath


def _write_frame_index(config: BuildConfig, files: _BuildFiles, summaries: list[dict]) -> set[str]:
    """``frames.jsonl``: each built frame's unmarked normalised image, camera, split and source.

    Returns:
        The images it names.
    """
    entries = [{"frame_id": note["frame_id"], "image": note["image"] if config.keep_unmarked_images else None,
                "camera": _camera(note).intrinsics(),
                "T_world_cam": note["T_world_cam"] if note.get("pose_known", True) else None, "split": note["split"],
                "source": note["source"], "sequence": note["sequence"], "transforms": note["transforms"]}
               for summary in summaries for note in summary["notes"]]
    files.write(layout.FRAMES_INDEX, "".join(json.dumps(entry) + "\n" for entry in entries).encode())
    return {entry["image"] for entry in entries} - {None}


def _scan_records(store: OutputStore, record_paths: list[str]) -> tuple[dict, set, dict]:
    """One pass over the written records: counts per source and task, the images they use, each file's sha256."""
    by_source_task: dict = {}
    by_split: Counter = Counter()
    used: set = set()
    checksums: dict = {}
    for relpath, data in store.read_many(record_paths):
        checksums[relpath] = sha256_bytes(data)
        for line in data.decode("utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            by_source_task.setdefault(record["provenance"]["source"], Counter())[record["task"]] += 1
            by_split[record["split"]] += 1
            used.update(record["images"])
    by_task = sum(by_source_task.values(), Counter())
    counts = {"total": sum(by_task.values()), "by_task": dict(sorted(by_task.items())),
              "by_source": {s: sum(c.values()) for s, c in sorted(by_source_task.items())},
              "by_split": dict(sorted(by_split.items())),
              "by_source_task": {s: dict(sorted(c.items())) for s, c in sorted(by_source_task.items())}}
    return counts, used, dict(sorted(checksums.items()))


def _remove_orphan_images(store: OutputStore, used: set) -> None:
    """Delete the images datagen wrote that nothing points to (unmarked frames not kept nor paired,
    interrupted shards); any other file under ``images/`` is left alone."""
    for relpath, digests in sorted(store.claims(prefix=layout.IMAGES_DIR + "/").items()):
        if relpath not in used and store.remove_if_owned(relpath, digests):
            log.debug("removed orphan image %s", relpath)


def _manifest(config: BuildConfig, summaries: list[dict], counts: dict, checksums: dict, images: int) -> dict:
    skipped: dict = {}
    errors: dict = {}
    for summary in summaries:
        for reason, ids in summary["skipped"].items():
            skipped.setdefault(reason, []).extend(ids)
        errors.update(summary.get("errors", {}))
    return {
        "schema": layout.SCHEMA,
        "datagen_version": datagen.__version__,
        "seed": config.seed,
        "config_fingerprint": config.fingerprint(),
        "frames": {"planned": sum(s["frames"] for s in summaries),
                   "outside_selected_splits": sum(s["filtered"] for s in summaries),
                   "skipped": {reason: len(ids) for reason, ids in sorted(skipped.items())},
                   "skipped_ids": {reason: sorted(ids) for reason, ids in sorted(skipped.items())},
                   "skipped_errors": dict(sorted(errors.items()))},
        "counts": counts,
        "images": images,
        "checksums": checksums,
    }
