"""The waymo source on a v2 segment written in tmp_path from a scene of known geometry (waymo_files).

No Waymo sample can be shared, so the truth is the synthetic scene itself: planes, a vehicle
driving at 20 m/s while turning, a TOP LiDAR range image rendered with per-pixel poses, and
rolling-shutter cameras. Decoded points must lie on the planes; labels must have the depth
the plane has at their pixel when that pixel was exposed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from datagen.errors import ConfigError, SourceError
from datagen.records import iter_records
from datagen.sources import REGISTRY
from datagen.sources.waymo import WaymoSource
from tests.sources import waymo_files as wf
from tests.sources.label_checks import assert_range_and_value, build_records, sampling, source_pixel

SEGMENT = "1005081002024129653_5313_150_5333_150"
FRAMES_US = (1_600_000_000_000_000, 1_600_000_000_100_000)


@pytest.fixture(scope="module")
def segment_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("waymo")
    wf.write_segment(root, SEGMENT)
    return root


def _source(root: Path, **options) -> WaymoSource:
    return WaymoSource(WaymoSource.Config(root=root, **options))


def _plane_distance(points: np.ndarray) -> np.ndarray:
    return np.min(np.stack([np.abs(points @ n - c) for n, c in wf.PLANES]), axis=0)


def _in_image(frame) -> tuple[np.ndarray, np.ndarray]:
    uv, valid = frame.camera.project(frame.points)
    keep = valid & frame.camera.contains(uv)
    return uv[keep], frame.points[keep]


# ------------------------------------------------------------------ listing


def test_registered_and_lists_each_camera_image_with_segment_and_split(segment_root, tmp_path):
    assert REGISTRY.load_builtins().get("waymo") is WaymoSource
    table = _source(segment_root).frame_table()
    assert table.frame_ids.tolist() == [f"waymo/{SEGMENT}/{us}/{cam}" for us in FRAMES_US
                                        for cam in ("FRONT", "SIDE_LEFT")]
    assert set(table.split) == {"train"} and set(table.sequence) == {SEGMENT}
    assert table.camera.tolist() == ["FRONT", "SIDE_LEFT"] * 2
    assert _source(segment_root / "training").frame_ids() == table.frame_ids.tolist()
    wf.write_segment(tmp_path, "other_segment", split="validation", frames=1, cameras=(wf.FRONT,))
    assert _source(tmp_path).frame_table().split.tolist() == ["val"]


# ------------------------------------------------------------------ range image decoding


@pytest.mark.parametrize("explicit", [True, False])
def test_range_image_decodes_onto_the_scene(tmp_path, explicit):
    laser = wf.LaserSpec() if explicit else wf.LaserSpec(inclinations=None)
    wf.write_segment(tmp_path, SEGMENT, frames=1, cameras=(wf.FRONT,), laser=laser)
    points = _source(tmp_path).points_world(SEGMENT, FRAMES_US[0])
    ranges, _ = wf.render_range_image(laser, wf.T0_S)
    assert len(points) == (ranges[..., 0] > 0).sum() > 0.3 * ranges[..., 0].size
    assert _plane_distance(points).max() < 2e-5  # float32 ranges and poses
    assert points[:, 0].max() > wf.WALL_X - 1e-4 and points[:, 1].max() > wf.SIDE_Y - 1e-4  # walls seen


def test_without_per_pixel_poses_the_spin_smears_the_scene(tmp_path):
    """A LiDAR without a pose image is placed with the frame's vehicle pose: the 0.1 s spin at 20 m/s shows."""
    wf.write_segment(tmp_path, SEGMENT, frames=1, cameras=(wf.FRONT,), with_lidar_pose=False)
    points = _source(tmp_path).points_world(SEGMENT, FRAMES_US[0])
    assert _plane_distance(points).max() > 0.5  # up to 0.05 s * 20 m/s


# ------------------------------------------------------------------ camera geometry


def test_camera_axes_pixel_origin_and_pose_are_converted_at_the_boundary(segment_root):
    source = _source(segment_root)
    for k, us in enumerate(FRAMES_US):
        for spec, name in ((wf.FRONT, "FRONT"), (wf.SIDE_LEFT, "SIDE_LEFT")):
            frame = source.load_frame(f"waymo/{SEGMENT}/{us}/{name}")
            pose_time = spec.timing(wf.T0_S + k * wf.FRAME_PERIOD_S)[0]
            np.testing.assert_allclose(frame.camera.T_world_cam, spec.T_world_cam_cv(pose_time), atol=1e-6)
            assert (frame.camera.cx, frame.camera.cy) == (spec.c_u - 0.5, spec.c_v - 0.5)
            assert frame.camera.width == spec.width and frame.image.shape == (spec.height, spec.width, 3)
            assert frame.split == "train" and frame.timestamp_s == pytest.approx(pose_time, abs=1e-6)
    side = source.load_frame(f"waymo/{SEGMENT}/{FRAMES_US[0]}/SIDE_LEFT").camera
    assert side.model == "radtan" and side.dist.tolist() == list(wf.SIDE_LEFT.distortion)


def test_labels_have_the_depth_of_the_scene_when_their_column_was_exposed(segment_root):
    """Rolling shutter on: depth error < 2 mm (the constant-velocity pose over the 30 ms readout)."""
    for k, us in enumerate(FRAMES_US):
        frame = _source(segment_root).load_frame(f"waymo/{SEGMENT}/{us}/FRONT")
        uv, points = _in_image(frame)
        assert len(points) > 1000
        truth = wf.plane_depth(wf.FRONT, uv[:, 0], uv[:, 1], wf.T0_S + k * wf.FRAME_PERIOD_S)
        assert np.abs(points[:, 2] - truth).max() < 2e-3


def test_ignoring_the_rolling_shutter_is_measurably_off(segment_root):
    """The same points as if the whole image were exposed at its pose time: off by centimetres and pixels."""
    frame_id = f"waymo/{SEGMENT}/{FRAMES_US[0]}/FRONT"
    exact = _source(segment_root).load_frame(frame_id)
    flat = _source(segment_root, rolling_shutter=False).load_frame(frame_id)
    uv, valid = exact.camera.project(exact.points)
    uv_flat, _ = exact.camera.project(flat.points)
    seen = valid & exact.camera.contains(uv)
    truth = wf.plane_depth(wf.FRONT, uv_flat[seen, 0], uv_flat[seen, 1], wf.T0_S)
    depth_error = np.abs(flat.points[seen, 2] - truth)
    shift_px = np.linalg.norm(uv[seen] - uv_flat[seen], axis=1)
    assert np.median(depth_error) > 5e-3 and np.percentile(depth_error, 95) > 0.02
    assert np.percentile(shift_px, 95) > 1.0


# ------------------------------------------------------------------ a build, every label checked


def _build(root: Path, out: Path, tasks: list, **overrides) -> dict:
    return build_records(out, "waymo", root, tasks=tasks, **{"sampling": sampling(20), **overrides})[1]


def test_build_labels_match_the_scene_at_their_pixels(segment_root, tmp_path):
    out = tmp_path / "out"
    manifest = _build(segment_root, out, ["distance", "axis_distance"], cameras=["FRONT"])
    assert manifest["frames"]["skipped"] == {}
    records = list(iter_records(out))
    assert len(records) == 2 * 20 * len(FRAMES_US)
    for record in records:
        k = FRAMES_US.index(int(record["provenance"]["frames"][0].split("/")[2]))
        (u, v), z = record["label"]["pixels"][0], record["label"]["z_m"][0]
        transforms = record["provenance"]["transforms"]
        centre = source_pixel(np.array([[u, v]], dtype=np.float64), transforms)[0]
        half = (source_pixel(np.array([[u + 0.5, v + 0.5]]), transforms)[0] - centre)
        corners = centre + half * np.array([[-1, -1], [-1, 1], [1, -1], [1, 1], [0, 0]])
        depths = wf.plane_depth(wf.FRONT, corners[:, 0], corners[:, 1], wf.T0_S + k * wf.FRAME_PERIOD_S)
        # the LiDAR point lies somewhere on the pixel: its depth is within the plane's depths over it
        assert depths.min() - 2e-3 <= z <= depths.max() + 2e-3, record["id"]
        assert_range_and_value(record)


def test_pose_task_translation_is_the_vehicle_motion(segment_root, tmp_path):
    out = tmp_path / "out"
    _build(segment_root, out, ["pose"], cameras=["FRONT"], sampling={"pose_min_overlap": 0.3})
    records = [r for r in iter_records(out) if r["task"] == "pose"]
    assert len(records) == 1  # two frames make one pair: no pair is written twice, in either order
    for record in records:
        times = [wf.FRONT.timing(int(f.split("/")[2]) / 1e6)[0] for f in record["provenance"]["frames"]]
        T_a, T_b = (wf.FRONT.T_world_cam_cv(t) for t in times)
        expected = (np.linalg.inv(T_a) @ T_b)[:3, 3]
        np.testing.assert_allclose(record["label"]["translation_m"], expected, atol=1e-6)
        assert record["value"] == pytest.approx(2.0, abs=0.01)  # 0.1 s at 20 m/s


# ------------------------------------------------------------------ bad input


def _rewrite(path: Path, column: str, values) -> None:
    table = pq.read_table(path)
    index = table.schema.get_field_index(column)
    pq.write_table(table.set_column(index, table.schema.field(index), [values]), path)


def test_bad_components_name_their_file(tmp_path):
    import pyarrow as pa

    wf.write_segment(tmp_path, SEGMENT, frames=1, cameras=(wf.FRONT,))
    frame_id = f"waymo/{SEGMENT}/{FRAMES_US[0]}/FRONT"
    images = tmp_path / "training" / "camera_image" / f"{SEGMENT}.parquet"
    _rewrite(images, "[CameraImageComponent].image", pa.array([b"not a jpeg"], pa.binary()))
    with pytest.raises(SourceError, match=f"{images}: frame {FRAMES_US[0]} FRONT: not a readable JPEG"):
        _source(tmp_path).load_frame(frame_id)

    wf.write_segment(tmp_path, SEGMENT, frames=1, cameras=(wf.FRONT,))
    lidar = tmp_path / "training" / "lidar" / f"{SEGMENT}.parquet"
    data = lidar.read_bytes()
    lidar.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match=f"{lidar}: not a readable Parquet file"):
        _source(tmp_path).load_frame(frame_id)
    lidar.write_bytes(data)

    calibration = tmp_path / "training" / "lidar_calibration" / f"{SEGMENT}.parquet"
    _rewrite(calibration, "[LiDARCalibrationComponent].beam_inclination.values",
             pa.array([[0.1, 0.0]], pa.list_(pa.float64())))
    with pytest.raises(SourceError, match=f"{calibration}: LiDAR TOP beam inclinations must be finite and ascending"):
        _source(tmp_path).load_frame(frame_id)
    _rewrite(calibration, "[LiDARCalibrationComponent].beam_inclination.values",
             pa.array([[0.0, 0.1]], pa.list_(pa.float64())))
    with pytest.raises(SourceError, match=f"{calibration}: LiDAR TOP: 2 beam inclinations for a range image of 32"):
        _source(tmp_path).load_frame(frame_id)

    (tmp_path / "training" / "vehicle_pose" / f"{SEGMENT}.parquet").unlink()
    with pytest.raises(SourceError, match="vehicle_pose/.*parquet: missing"):
        _source(tmp_path).load_frame(frame_id)


def test_a_build_skips_and_counts_a_frame_with_a_broken_image(tmp_path):
    import pyarrow as pa

    wf.write_segment(tmp_path, SEGMENT, frames=2, cameras=(wf.FRONT,))
    images = tmp_path / "training" / "camera_image" / f"{SEGMENT}.parquet"
    table = pq.read_table(images)
    column = table.column("[CameraImageComponent].image").to_pylist()
    _rewrite(images, "[CameraImageComponent].image", pa.array([column[0], column[1][:100]], pa.binary()))
    manifest = _build(tmp_path, tmp_path / "out", ["distance"], sampling={"points_per_frame": 1})
    assert manifest["frames"]["skipped_ids"] == {"source_error": [f"waymo/{SEGMENT}/{FRAMES_US[1]}/FRONT"]}


@pytest.mark.parametrize("options, message", [({"lidars": ["MIDDLE"]}, "lidars"), ({"lidars": []}, "lidars"),
                                              ({"rolling_shutter": "yes"}, "rolling_shutter"),
                                              ({"root": None}, "root"), ({"cache_segments": 0}, "cache_segments")])
def test_bad_options_are_refused(options, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        WaymoSource.Config(**{"root": tmp_path, **options})


def test_a_root_without_segments_says_what_it_expected(tmp_path):
    with pytest.raises(SourceError, match="no camera_image/<segment>.parquet"):
        _source(tmp_path).frame_table()
    with pytest.raises(SourceError, match="is not 'waymo/<segment>/<frame_timestamp_micros>/<camera>'"):
        _source(tmp_path).load_frame("waymo/s/1/REAR")
