"""The argoverse2 source, on the real sample log (one sweep, calibration, poses) with written images.

The sample has no camera image (none is public), so ``av2_files.write_log`` adds JPEGs of the
calibrated sizes in the official layout; every geometric fact is the real log's. Labels are
checked against the formula of the dataset's documentation, written out here: a sweep point
p (egovehicle frame at the sweep time t_s) lands in camera c at the image time t_i as
``inv(egovehicle_SE3_c) . inv(city_SE3_ego(t_i)) . city_SE3_ego(t_s) . p``, then ``K``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pytest

from datagen.errors import ConfigError, SourceError
from datagen.records import iter_records, read_manifest
from datagen.sources import REGISTRY
from datagen.sources.argoverse2 import RING_CAMERAS, STEREO_CAMERAS, Argoverse2Source
from tests.sources import av2_files
from tests.sources.av2_files import LOG_ID, SWEEP_NS
from tests.sources.label_checks import assert_label_is_a_point, build_records, map_pixel, rotation_wxyz, sampling

# ------------------------------------------------------------------ the documented formula, by hand


def rigid(row: dict) -> tuple[np.ndarray, np.ndarray]:
    return rotation_wxyz(row["qw"], row["qx"], row["qy"], row["qz"]), np.array([row["tx_m"], row["ty_m"], row["tz_m"]])


def city_pose(log: Path, t_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """The pose row recorded at exactly ``t_ns`` (the test uses only such times)."""
    table = feather.read_table(log / "city_SE3_egovehicle.feather")
    rows = np.flatnonzero(table.column("timestamp_ns").to_numpy() == t_ns)
    assert len(rows), f"no pose row at {t_ns}"
    return rigid(table.slice(int(rows[0]), 1).to_pylist()[0])


def sweep_in_camera(log: Path, camera: str, image_ns: int, sweep_ns: int = SWEEP_NS) -> np.ndarray:
    """(N, 3) sweep points in the camera at the image time, by the formula in the module docstring."""
    sweep = feather.read_table(log / "sensors" / "lidar" / f"{sweep_ns}.feather")
    p = np.column_stack([sweep.column(c).to_numpy().astype(np.float64) for c in "xyz"])
    R_s, t_s = city_pose(log, sweep_ns)
    R_i, t_i = city_pose(log, image_ns)
    row = next(r for r in feather.read_table(log / "calibration" / "egovehicle_SE3_sensor.feather").to_pylist()
               if r["sensor_name"] == camera)
    R_c, t_c = rigid(row)
    city = p @ R_s.T + t_s
    ego_at_image = (city - t_i) @ R_i
    return (ego_at_image - t_c) @ R_c


def pixels_of(points: np.ndarray, K: dict) -> np.ndarray:
    return np.column_stack([K["fx_px"] * points[:, 0] / points[:, 2] + K["cx_px"],
                            K["fy_px"] * points[:, 1] / points[:, 2] + K["cy_px"]])


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def av2_root(shared_data, tmp_path) -> Path:
    """A root the test may change: one image per ring camera."""
    av2_files.write_log(shared_data, tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def av2_sample(tmp_path_factory) -> Path:
    """The same root, shared by the tests that only read it."""
    from tests.conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not found (the shared samples sit beside the checkout)")
    root = tmp_path_factory.mktemp("av2")
    av2_files.write_log(SHARED_DATA, root)
    return root


def _source(root: Path, **options) -> Argoverse2Source:
    return Argoverse2Source(Argoverse2Source.Config(root=root, **options))


def _image_ns(root: Path, camera: str) -> int:
    folder = root / "sensor" / "val" / LOG_ID / "sensors" / "cameras" / camera
    return int(sorted(folder.glob("*.jpg"))[0].stem)


# ------------------------------------------------------------------ listing


def test_registered_and_lists_every_image_with_camera_log_and_split(av2_sample):
    assert REGISTRY.load_builtins().get("argoverse2") is Argoverse2Source
    table = _source(av2_sample).frame_table()
    assert sorted(table.camera.tolist()) == sorted(RING_CAMERAS)
    assert set(table.sequence.tolist()) == {LOG_ID} and set(table.split.tolist()) == {"val"}
    stamps = [int(i.split("/")[2]) for i in table.frame_ids]
    assert stamps == sorted(stamps)  # time order, cameras interleaved
    for frame_id, camera in zip(table.frame_ids, table.camera):
        assert frame_id == f"argoverse2/{LOG_ID}/{_image_ns(av2_sample, camera)}/{camera}"
    # the sensor folder, the split folder and the log folder are roots too
    log = av2_sample / "sensor" / "val" / LOG_ID
    for root in (av2_sample / "sensor", av2_sample / "sensor" / "val", log):
        assert _source(root).frame_ids() == table.frame_ids.tolist()


def test_stereo_cameras_are_listed_only_when_asked(shared_data, tmp_path):
    images = {"ring_front_center": [SWEEP_NS + 40091214], "stereo_front_left": [SWEEP_NS + 40091216]}
    av2_files.write_log(shared_data, tmp_path, images=images)
    assert _source(tmp_path).frame_table().camera.tolist() == ["ring_front_center"]
    assert _source(tmp_path, stereo=True).frame_table().camera.tolist() == ["ring_front_center", "stereo_front_left"]
    frame = _source(tmp_path, stereo=True).load_frame(f"argoverse2/{LOG_ID}/{SWEEP_NS + 40091216}/stereo_front_left")
    assert frame.camera.width == 2048 and frame.meta["camera"] == "stereo_front_left"
    assert set(STEREO_CAMERAS) <= set(_source(tmp_path, stereo=True).cameras)


# ------------------------------------------------------------------ geometry against the formula


def test_points_land_in_each_camera_as_the_documented_formula_says(av2_sample):
    source = _source(av2_sample)
    log = av2_sample / "sensor" / "val" / LOG_ID
    intrinsics = av2_files.intrinsics(log)
    for frame_id in source.frame_ids():
        frame = source.load_frame(frame_id)
        camera, image_ns = frame.meta["camera"], int(frame_id.split("/")[2])
        expected = sweep_in_camera(log, camera, image_ns)
        got = frame.points @ frame.T_cam_points[:3, :3].T + frame.T_cam_points[:3, 3]
        np.testing.assert_allclose(got, expected, atol=1e-9)
        front = expected[:, 2] > 1.0
        uv, valid = frame.camera.project(got[front])
        assert valid.all()
        np.testing.assert_allclose(uv, pixels_of(expected[front], intrinsics[camera]), atol=1e-8)
        assert frame.camera.model == "pinhole" and frame.split == "val" and frame.sequence == LOG_ID
        assert frame.timestamp_s == pytest.approx(image_ns / 1e9, abs=1e-6)
        assert frame.meta["image_minus_sweep_s"] == pytest.approx((image_ns - SWEEP_NS) / 1e9, abs=1e-12)
        # the camera pose is city_SE3_ego(t_image) . egovehicle_SE3_camera
        R_i, t_i = city_pose(log, image_ns)
        centre = rigid(next(r for r in feather.read_table(log / "calibration" / "egovehicle_SE3_sensor.feather")
                            .to_pylist() if r["sensor_name"] == camera))[1]
        np.testing.assert_allclose(frame.camera.T_world_cam[:3, 3], R_i @ centre + t_i, atol=1e-9)


def test_without_motion_the_camera_sees_the_counts_the_sample_documents(shared_data, tmp_path):
    """An image at the sweep's own timestamp: no motion between them, SOURCE.md's plain projection."""
    av2_files.write_log(shared_data, tmp_path, images={"ring_front_center": [SWEEP_NS]})
    frame = _source(tmp_path).load_frame(f"argoverse2/{LOG_ID}/{SWEEP_NS}/ring_front_center")
    np.testing.assert_allclose(frame.T_cam_points @ np.linalg.inv(frame.T_cam_points), np.eye(4), atol=1e-12)
    points = frame.points @ frame.T_cam_points[:3, :3].T + frame.T_cam_points[:3, 3]
    uv = pixels_of(points, av2_files.intrinsics(tmp_path / "sensor" / "val" / LOG_ID)["ring_front_center"])
    inside = (points[:, 2] > 1) & (uv[:, 0] >= 0) & (uv[:, 0] < 1550) & (uv[:, 1] >= 0) & (uv[:, 1] < 2048)
    assert inside.sum() == 11461  # SOURCE.md: "ring_front_center 11,461 (11.6%)"


def test_the_sweep_whose_capture_covers_the_image_is_used(shared_data, tmp_path):
    later = SWEEP_NS + 99_964_000  # a second (copied) sweep 0.1 s later
    image = av2_files.nearest_pose_time(av2_files.sample_log(shared_data), SWEEP_NS + 82_605_193)
    av2_files.write_log(shared_data, tmp_path, images={"ring_rear_right": [image]}, extra_sweeps_ns=(later,))
    frame_id = f"argoverse2/{LOG_ID}/{image}/ring_rear_right"
    assert Path(_source(tmp_path).load_frame(frame_id).meta["sweep"]).stem == str(SWEEP_NS)
    assert Path(_source(tmp_path, lidar_match="nearest").load_frame(frame_id).meta["sweep"]).stem == str(later)
    with pytest.raises(SourceError, match="no sweep within 0.05 s"):
        _source(tmp_path, max_lidar_gap_s=0.05).load_frame(frame_id)


# ------------------------------------------------------------------ a build, every label checked


POINTS = 10  # labels sampled per frame in the builds below


def _build(root: Path, out: Path, tasks: list, **overrides) -> dict:
    return build_records(out, "argoverse2", root, tasks=tasks, **{"sampling": sampling(POINTS), **overrides})[1]


def test_build_every_label_is_a_sweep_point_on_its_pixel_at_its_depth(av2_sample, tmp_path):
    out = tmp_path / "out"
    _build(av2_sample, out, ["distance", "axis_distance"])
    records = list(iter_records(out))
    log = av2_sample / "sensor" / "val" / LOG_ID
    intrinsics = av2_files.intrinsics(log)
    truth = {}
    for record in records:
        frame_id = record["provenance"]["frames"][0]
        if frame_id not in truth:
            _, _, stamp, camera = frame_id.split("/")
            points = sweep_in_camera(log, camera, int(stamp))
            points = points[points[:, 2] > 0.1]
            transforms = record["provenance"]["transforms"]
            truth[frame_id] = (points, map_pixel(pixels_of(points, intrinsics[camera]), transforms))
        assert_label_is_a_point(record, *truth[frame_id])
        assert record["split"] == "val"
    assert len(truth) == len(RING_CAMERAS) and len(records) == 2 * POINTS * len(RING_CAMERAS)


def test_pose_task_moves_the_camera_as_the_city_poses_say(shared_data, tmp_path):
    log = av2_files.sample_log(shared_data)
    first, second = (av2_files.nearest_pose_time(log, SWEEP_NS + d) for d in (12_576_938, 97_589_436))
    av2_files.write_log(shared_data, tmp_path / "data", images={"ring_front_center": [first, second]})
    out = tmp_path / "out"
    _build(tmp_path / "data", out, ["pose"], sampling={"pose_min_translation_m": 0.01, "pose_min_overlap": 0.3})
    records = [r for r in iter_records(out) if r["task"] == "pose"]
    assert len(records) == 1  # two frames make one pair: no pair is written twice, in either order
    row = next(r for r in feather.read_table(log / "calibration" / "egovehicle_SE3_sensor.feather").to_pylist()
               if r["sensor_name"] == "ring_front_center")
    R_c, t_c = rigid(row)
    for record in records:
        times = [int(frame.split("/")[2]) for frame in record["provenance"]["frames"]]
        assert sorted(times) == [first, second]
        (R_a, t_a), (R_b, t_b) = (city_pose(log, t) for t in times)
        centre_a, centre_b = R_a @ t_c + t_a, R_b @ t_c + t_b
        expected = (R_a @ R_c).T @ (centre_b - centre_a)  # second centre in the first camera's axes
        np.testing.assert_allclose(record["label"]["translation_m"], expected, atol=1e-9)
        assert record["value"] == pytest.approx(np.linalg.norm(expected), abs=1e-9)
        assert 0.01 < record["value"] < 0.1  # the car creeps at about 0.5 m/s


# ------------------------------------------------------------------ bad input


def _first_id(root: Path) -> str:
    return _source(root).frame_ids()[0]


def test_missing_image_truncated_sweep_and_bad_calibration_name_the_file(av2_root):
    log = av2_root / "sensor" / "val" / LOG_ID
    frame_id = _first_id(av2_root)
    _, _, stamp, camera = frame_id.split("/")
    image = log / "sensors" / "cameras" / camera / f"{stamp}.jpg"
    image.rename(image.with_suffix(".bak"))
    with pytest.raises(SourceError, match=str(image)):
        _source(av2_root).load_frame(frame_id)
    image.with_suffix(".bak").rename(image)

    sweep = log / "sensors" / "lidar" / f"{SWEEP_NS}.feather"
    data = sweep.read_bytes()
    sweep.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match=f"{sweep}: not a readable Feather file"):
        _source(av2_root).load_frame(frame_id)
    sweep.write_bytes(data)

    intrinsics = log / "calibration" / "intrinsics.feather"
    table = feather.read_table(intrinsics)
    feather.write_feather(table.drop_columns(["fx_px"]), intrinsics)
    with pytest.raises(SourceError, match=f"{intrinsics}: missing column"):
        _source(av2_root).load_frame(frame_id)



def test_bad_quaternion_and_image_size_name_the_file(av2_root, shared_data):
    log = av2_root / "sensor" / "val" / LOG_ID
    frame_id = _first_id(av2_root)
    extrinsics = log / "calibration" / "egovehicle_SE3_sensor.feather"
    table = feather.read_table(extrinsics)
    feather.write_feather(table.set_column(1, "qw", pa.array([2.0] * table.num_rows)), extrinsics)
    with pytest.raises(SourceError, match=f"{extrinsics}: row 0 quaternion"):
        _source(av2_root).load_frame(frame_id)
    shutil.copyfile(av2_files.sample_log(shared_data) / "calibration" / "egovehicle_SE3_sensor.feather", extrinsics)
    _, _, stamp, camera = frame_id.split("/")
    av2_files.picture(640, 480).save(log / "sensors" / "cameras" / camera / f"{stamp}.jpg")
    with pytest.raises(SourceError, match="image is 640x480 px but"):
        _source(av2_root).load_frame(frame_id)


def test_a_build_skips_and_counts_a_frame_with_a_truncated_sweep(shared_data, tmp_path):
    images = {"ring_front_center": [SWEEP_NS + 40091214], "ring_side_left": [SWEEP_NS + 112_576_938]}
    later = SWEEP_NS + 99_964_000
    log = av2_files.write_log(shared_data, tmp_path / "data", images=images, extra_sweeps_ns=(later,))
    (log / "sensors" / "lidar" / f"{later}.feather").write_bytes(b"ARROW1 truncated")
    manifest = _build(tmp_path / "data", tmp_path / "out", ["distance"])
    assert manifest["frames"]["skipped"] == {"source_error": 1}
    assert manifest["frames"]["skipped_ids"]["source_error"] == [f"argoverse2/{LOG_ID}/{later + 12_612_938}/ring_side_left"]
    assert {r["provenance"]["frames"][0].split("/")[3] for r in iter_records(tmp_path / "out")} == {"ring_front_center"}
    assert read_manifest(tmp_path / "out")["counts"]["total"] == POINTS


@pytest.mark.parametrize("options, message", [({"lidar_match": "closest"}, "lidar_match"),
                                              ({"max_lidar_gap_s": 0}, "max_lidar_gap_s"),
                                              ({"stereo": "yes"}, "stereo"), ({"root": None}, "root")])
def test_bad_options_are_refused(options, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        Argoverse2Source.Config(**{"root": tmp_path, **options})


def test_a_root_without_logs_says_what_it_expected(tmp_path):
    with pytest.raises(SourceError, match="no log folder with sensors/"):
        _source(tmp_path).frame_table()
    with pytest.raises(SourceError, match="is not 'argoverse2/<log_id>/<timestamp_ns>/<camera>'"):
        _source(tmp_path).load_frame("argoverse2/x/12/ring_front_middle")
