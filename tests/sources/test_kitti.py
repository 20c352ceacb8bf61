"""The kitti source: the real object sample checked label by label against the devkit's projection
``P2 · R0_rect · Tr_velo_to_cam``, and raw drives and tracking sequences written in their official
layouts (the real scan and image, OXTS made up from a known motion) for poses, motion
compensation, depth-completion maps and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datagen.errors import ConfigError, SourceError
from datagen.sources import REGISTRY
from datagen.sources.kitti import KittiSource, detect_layout
from tests.sources.kitti_files import (OBJECT, read_object_calibration, write_raw_drive,
                                       write_tracking_sequence)
from tests.sources.label_checks import build_records, check_labels, sampling

SPEED_MPS = 20.0
SWEEP_S = 0.1035


def source(root: Path, **options) -> KittiSource:
    return KittiSource(KittiSource.Config(root=root, **options))


def velodyne_points(shared_data: Path) -> np.ndarray:
    return np.fromfile(shared_data / OBJECT / "velodyne" / "000000.bin", dtype=np.float32).reshape(-1, 4)


def homogeneous(M34: np.ndarray) -> np.ndarray:
    return np.vstack([np.asarray(M34).reshape(3, 4), [0, 0, 0, 1]])


def formula(shared_data: Path, camera: int = 2):
    """The devkit's projection of every scan point: source pixels (N, 2), the formula's z (N,), and
    T_cam_velo = [I | K^-1 P[:, 3]] · R0_rect · Tr_velo_to_cam (camera i's frame, whose z that is)."""
    calib = read_object_calibration(shared_data)
    P = calib[f"P{camera}"].reshape(3, 4)
    R0 = np.eye(4)
    R0[:3, :3] = calib["R0_rect"].reshape(3, 3)
    Tr = homogeneous(calib["Tr_velo_to_cam"])
    points = velodyne_points(shared_data)[:, :3].astype(np.float64)
    uvz = np.column_stack([points, np.ones(len(points))]) @ (P @ R0 @ Tr).T
    T_cam_velo = np.eye(4)
    T_cam_velo[:3, 3] = np.linalg.solve(P[:, :3], P[:, 3])
    return uvz[:, :2] / uvz[:, 2:3], uvz[:, 2], T_cam_velo @ R0 @ Tr


def devkit_poses(packets: np.ndarray) -> np.ndarray:
    """convertOxtsToPose.m, written out here: Mercator at the first latitude's scale, Rz Ry Rx, relative to pose 0."""
    er = 6378137.0
    scale = np.cos(packets[0, 0] * np.pi / 180.0)
    poses = []
    for lat, lon, alt, rx, ry, rz in packets[:, :6]:
        t = [scale * lon * np.pi * er / 180, scale * er * np.log(np.tan((90 + lat) * np.pi / 360)), alt]
        Rx = np.array([[1, 0, 0], [0, np.cos(rx), -np.sin(rx)], [0, np.sin(rx), np.cos(rx)]])
        Ry = np.array([[np.cos(ry), 0, np.sin(ry)], [0, 1, 0], [-np.sin(ry), 0, np.cos(ry)]])
        Rz = np.array([[np.cos(rz), -np.sin(rz), 0], [np.sin(rz), np.cos(rz), 0], [0, 0, 1]])
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = Rz @ Ry @ Rx, t
        poses.append(pose)
    return np.linalg.inv(poses[0]) @ np.array(poses)


def camera_poses_from_files(packets: np.ndarray, shared_data: Path) -> np.ndarray:
    """T_world_cam2 = pose_imu · inv(Tr_imu_to_velo) · inv(T_cam2_velo), from the OXTS packets."""
    calib = read_object_calibration(shared_data)
    T_cam_velo = formula(shared_data)[2]
    return devkit_poses(packets) @ np.linalg.inv(homogeneous(calib["Tr_imu_to_velo"])) @ np.linalg.inv(T_cam_velo)


def read_raw_packets(drive: Path) -> np.ndarray:
    files = sorted((drive / "oxts" / "data").glob("*.txt"))
    return np.array([np.array(f.read_text().split(), dtype=np.float64) for f in files])


@pytest.fixture
def raw_root(tmp_path, shared_data) -> Path:
    times = np.array([0.0, 1, 2]) * SWEEP_S
    root = tmp_path / "raw"
    write_raw_drive(root, shared_data, times, np.column_stack([SPEED_MPS * times, 0 * times, 0 * times]),
                    sweep_s=SWEEP_S)
    return root


# --- the real object sample --------------------------------------------------------------------


def test_registered_and_the_object_layout_is_found(shared_data):
    assert REGISTRY.load_builtins().get("kitti") is KittiSource
    root = shared_data / "kitti_object_kuixu"
    assert detect_layout(root) == "object"
    table = source(root).frame_table()
    assert table.frame_ids.tolist() == ["kitti/training/000000/image_02"]  # the sample has no image_3
    assert table.camera.tolist() == ["image_02"] and table.split.tolist() == ["train"]
    assert table.sequence.tolist() == ["training/000000"]


def test_object_frame_carries_the_devkit_calibration(shared_data):
    frame = source(shared_data / "kitti_object_kuixu").load_frame("kitti/training/000000/image_02")
    uv, z, T_cam_velo = formula(shared_data)
    calib = read_object_calibration(shared_data)
    np.testing.assert_array_equal(frame.camera.K, calib["P2"].reshape(3, 4)[:, :3])
    np.testing.assert_allclose(frame.T_cam_points, T_cam_velo, atol=1e-12)
    assert (frame.camera.width, frame.camera.height) == (1224, 370) and frame.camera.model == "pinhole"
    np.testing.assert_array_equal(frame.camera.T_world_cam, np.eye(4))  # no poses in the object layout
    assert frame.meta["pose_known"] is False  # so the pose task pairs no object frame
    p_cam = frame.points.astype(np.float64) @ frame.T_cam_points[:3, :3].T + frame.T_cam_points[:3, 3]
    np.testing.assert_allclose(p_cam[:, 2], z, atol=1e-9)  # the formula's third entry is z in camera 2
    front = p_cam[:, 2] > 1
    np.testing.assert_allclose(p_cam[front, :2] / p_cam[front, 2:] * frame.camera.fx + [frame.camera.cx, frame.camera.cy],
                               uv[front], atol=1e-6)


def test_every_object_label_follows_the_devkit_projection(shared_data, tmp_path):
    records, manifest = build_records(tmp_path / "out", "kitti", shared_data / "kitti_object_kuixu",
                                      tasks=("distance",), sampling=sampling(100))
    uv, z, _ = formula(shared_data)
    assert check_labels(records, uv, z) == 100 and manifest["frames"]["skipped"] == {}
    assert {r["split"] for r in records} == {"train"}
    assert {r["provenance"]["depth_from"] for r in records} == {"lidar"}


def test_object_testing_folder_is_the_test_split_and_cameras_filter(shared_data, tmp_path):
    root = tmp_path / "object"
    for folder in ("training", "testing"):
        for sub in ("calib", "velodyne", "image_2", "image_3"):
            (root / folder / sub).mkdir(parents=True)
            name = {"calib": "000000.txt", "velodyne": "000000.bin"}.get(sub, "000000.png")
            (root / folder / sub / name).symlink_to(shared_data / OBJECT / ("image_2" if "image" in sub else sub) / name)
    table = source(root).frame_table()
    assert table.frame_ids.tolist() == [f"kitti/{f}/000000/{c}" for f in ("training", "testing")
                                        for c in ("image_02", "image_03")]
    assert table.split.tolist() == ["train", "train", "test", "test"]
    from datagen.sources.base import Selection

    assert Selection(cameras=("image_03",), splits=("test",)).apply(table).frame_ids.tolist() == \
        ["kitti/testing/000000/image_03"]
    frame = source(root).load_frame("kitti/testing/000000/image_03")
    _, _, T_cam3_velo = formula(shared_data, camera=3)
    np.testing.assert_allclose(frame.T_cam_points, T_cam3_velo, atol=1e-12)
    assert frame.split == "test"


# --- raw drives: poses and motion compensation ---------------------------------------------------


def test_raw_layout_is_listed_per_drive_and_camera(raw_root):
    assert detect_layout(raw_root) == "raw" and detect_layout(raw_root / "2011_09_26") == "raw"
    table = source(raw_root).frame_table()
    assert table.frame_ids.tolist() == [f"kitti/2011_09_26_drive_0005/{i:010d}/image_02" for i in range(3)]
    assert set(table.sequence) == {"2011_09_26_drive_0005"} and set(table.split) == {""}  # no official split
    assert source(raw_root / "2011_09_26").frame_table().frame_ids.tolist() == table.frame_ids.tolist()
    assert source(raw_root).load_frame(table.frame_ids[0]).split is None


def test_raw_points_are_moved_to_the_image_time(raw_root, shared_data):
    """Each point, measured at its azimuth's time while the car drives at 20 m/s, lands where the
    analytic motion puts it at the image's time; without compensation it is up to v * sweep / 2 off."""
    frame = source(raw_root).load_frame("kitti/2011_09_26_drive_0005/0000000001/image_02")
    np.testing.assert_array_equal(frame.T_cam_points, np.eye(4))
    calib = read_object_calibration(shared_data)
    T_imu_velo = np.linalg.inv(homogeneous(calib["Tr_imu_to_velo"]))
    T_cam_velo = formula(shared_data)[2]
    t_cam = SWEEP_S  # frame 1; the sweep runs from t_cam - SWEEP_S / 2 to t_cam + SWEEP_S / 2
    p = velodyne_points(shared_data)[:, :3].astype(np.float64)
    azimuth = np.arctan2(p[:, 1], p[:, 0])  # counter-clockwise turn, starting and ending backwards
    t_point = t_cam - SWEEP_S / 2 + (azimuth + np.pi) / (2 * np.pi) * SWEEP_S
    p_imu = p @ T_imu_velo[:3, :3].T + T_imu_velo[:3, 3]
    p_world = p_imu + np.column_stack([SPEED_MPS * t_point, 0 * t_point, 0 * t_point])  # straight east, heading 0
    T_cam_imu = T_cam_velo @ np.linalg.inv(T_imu_velo)
    expected = (p_world - [SPEED_MPS * t_cam, 0, 0]) @ T_cam_imu[:3, :3].T + T_cam_imu[:3, 3]
    error = np.linalg.norm(frame.points - expected, axis=1)
    assert error.max() < 2e-3  # point times are rounded to 50 us (1 mm at 20 m/s)
    plain = source(raw_root, motion_compensation=False).load_frame(frame.frame_id)
    moved = plain.points.astype(np.float64) @ plain.T_cam_points[:3, :3].T + plain.T_cam_points[:3, 3]
    off = np.linalg.norm(moved - expected, axis=1)
    assert off.max() == pytest.approx(SPEED_MPS * SWEEP_S / 2, rel=0.01)
    in_view = (expected[:, 2] > 1) & (np.abs(expected[:, 0] / expected[:, 2]) < 0.866)  # camera 2's half-width
    assert 0.15 < off[in_view].max() < 0.3  # 20 m/s x 11.3 ms at the image's edge


def test_raw_camera_poses_follow_the_devkit_oxts_formula(tmp_path, shared_data):
    times = np.arange(4) * SWEEP_S
    yaw = np.array([0.3, 0.35, 0.45, 0.6])  # turning left
    positions = np.column_stack([[0, 1.8, 3.5, 5.0], [0, 0.7, 1.6, 2.8], [0, 0.02, 0.05, 0.06]])
    drive = write_raw_drive(tmp_path, shared_data, times, positions, yaw, sweep_s=SWEEP_S)
    expected = camera_poses_from_files(read_raw_packets(drive), shared_data)
    kitti = source(tmp_path)
    for i in range(4):
        frame = kitti.load_frame(f"kitti/2011_09_26_drive_0005/{i:010d}/image_02")
        np.testing.assert_allclose(frame.camera.T_world_cam, expected[i], atol=1e-6)
        assert frame.meta["pose_known"] is True
        assert frame.timestamp_s - kitti.load_frame("kitti/2011_09_26_drive_0005/0000000000/image_02").timestamp_s \
            == pytest.approx(times[i], abs=1e-6)


def test_raw_camera_pose_is_interpolated_at_the_image_time(tmp_path, shared_data):
    times = np.arange(3) * SWEEP_S
    # OXTS packets 4 ms after each image: the image's pose lies 4 ms back along the track.
    write_raw_drive(tmp_path, shared_data, times, np.column_stack([SPEED_MPS * times, 0 * times, 0 * times]),
                    sweep_s=SWEEP_S, oxts_time_offset_s=0.004)
    first, second = (source(tmp_path).load_frame(f"kitti/2011_09_26_drive_0005/{i:010d}/image_02") for i in (1, 2))
    step = np.linalg.inv(first.camera.T_world_cam) @ second.camera.T_world_cam
    assert np.linalg.norm(step[:3, 3]) == pytest.approx(SPEED_MPS * SWEEP_S, abs=1e-6)
    moved = second.camera.T_world_cam[:3, 3] - first.camera.T_world_cam[:3, 3]
    np.testing.assert_allclose(moved, [SPEED_MPS * SWEEP_S, 0, 0], atol=1e-6)


def test_pose_task_translation_equals_the_oxts_poses(raw_root, shared_data, tmp_path):
    records, _ = build_records(tmp_path / "out", "kitti", raw_root, tasks=("pose",), sampling=sampling(40))
    poses = camera_poses_from_files(read_raw_packets(raw_root / "2011_09_26" / "2011_09_26_drive_0005_sync"),
                                    shared_data)
    assert records
    for record in records:
        a, b = (int(f.split("/")[2]) for f in record["provenance"]["frames"])
        translation = (np.linalg.inv(poses[a]) @ poses[b])[:3, 3]
        assert record["value"] == pytest.approx(np.linalg.norm(translation), abs=1e-6)
        np.testing.assert_allclose(record["label"]["translation_m"], translation, atol=1e-6)
        assert record["value"] == pytest.approx(SPEED_MPS * SWEEP_S * abs(b - a), abs=1e-3)


# --- tracking ------------------------------------------------------------------------------------


def test_tracking_sequence_reads_its_own_calibration_keys_and_oxts(tmp_path, shared_data):
    heading = 0.1  # straight at 10 m/s, 0.1 rad north of east
    positions = np.column_stack([np.cos(heading) * np.arange(3), np.sin(heading) * np.arange(3), np.zeros(3)])
    yaw = np.full(3, heading)
    write_tracking_sequence(tmp_path, shared_data, positions, yaw)
    assert detect_layout(tmp_path) == "tracking"
    table = source(tmp_path).frame_table()
    assert table.frame_ids.tolist() == [f"kitti/training/0007/{i:06d}/image_02" for i in range(3)]
    assert set(table.sequence) == {"training/0007"} and set(table.split) == {""}  # the build splits by sequence
    packets = np.array([line.split() for line in (tmp_path / "training" / "oxts" / "0007.txt").read_text().splitlines()],
                       dtype=np.float64)
    expected = camera_poses_from_files(packets, shared_data)
    plain = source(tmp_path, motion_compensation=False)
    for i, frame_id in enumerate(table.frame_ids):
        frame = plain.load_frame(frame_id)
        np.testing.assert_allclose(frame.camera.T_world_cam, expected[i], atol=1e-6)
        np.testing.assert_allclose(frame.T_cam_points, formula(shared_data)[2], atol=1e-12)
        assert frame.timestamp_s == pytest.approx(0.1 * i)
    compensated = source(tmp_path).load_frame(table.frame_ids[1])
    moved = plain.load_frame(table.frame_ids[1])
    shift = np.linalg.norm(compensated.points - (moved.points @ moved.T_cam_points[:3, :3].T
                                                 + moved.T_cam_points[:3, 3]), axis=1)
    assert shift.max() == pytest.approx(10.0 * 0.05, rel=0.01)  # 10 m/s x 50 ms at the back of the sweep


# --- depth completion (raw) ---------------------------------------------------------------------


def test_depth_completion_ground_truth_is_value_over_256(tmp_path, shared_data):
    demo = shared_data / "kitti_depth_metric3d" / "kitti_demo"
    drive = write_raw_drive(tmp_path / "raw", shared_data, np.array([0.0, SWEEP_S]), np.zeros((2, 3)))
    target = drive / "image_02" / "data" / "0000000000.png"
    target.unlink()
    shutil.copy(demo / "rgb" / "0000000050.png", target)
    gt = tmp_path / "depth" / "val" / "2011_09_26_drive_0005_sync" / "proj_depth" / "groundtruth" / "image_02"
    gt.mkdir(parents=True)
    shutil.copy(demo / "depth" / "0000000050.png", gt / "0000000000.png")
    kitti = source(tmp_path / "raw", depth_completion=tmp_path / "depth")
    table = kitti.frame_table()
    assert table.frame_ids.tolist() == ["kitti/2011_09_26_drive_0005/0000000000/image_02"]  # frames with ground truth
    assert table.split.tolist() == ["val"]
    frame = kitti.load_frame(table.frame_ids[0])
    png = np.asarray(Image.open(demo / "depth" / "0000000050.png"))
    assert png.dtype == np.uint16 and frame.depth_m.shape == png.shape == (375, 1242)
    np.testing.assert_array_equal(frame.depth_m, png / 256.0)
    assert frame.depth_kind == "z" and frame.split == "val" and frame.meta["depth_from"] == "depth_map"
    records, _ = build_records(tmp_path / "out", "kitti", tmp_path / "raw",
                               {"depth_completion": str(tmp_path / "depth")}, tasks=("distance",), sampling=sampling(40))
    rows, cols = np.nonzero(png)
    check_labels(records, np.column_stack([cols, rows]).astype(float), png[rows, cols] / 256.0, z_tol_m=1e-9)
    assert {r["provenance"]["depth_from"] for r in records} == {"depth_map"}


# --- bad input ---------------------------------------------------------------------------------


def test_a_root_of_no_kitti_layout_is_refused(tmp_path):
    with pytest.raises(SourceError, match="not a KITTI root; expected the object layout"):
        source(tmp_path).frame_table()


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "velodyne_points" / "data" / "0000000001.bin").unlink(), r"0000000001\.bin: missing"),
    (lambda d: _replace(d / "velodyne_points" / "data" / "0000000001.bin", b"\0" * 10), r"0000000001\.bin: 2 values"),
    (lambda d: _replace(d.parent / "calib_cam_to_cam.txt", b"R_rect_00: 1 0 0 0 1 0 0 0 1\n"),
     r"calib_cam_to_cam\.txt: missing 'P_rect_02'"),
    (lambda d: _replace(d.parent / "calib_velo_to_cam.txt", b"R: 1 0 0 0 1 0 0 0 x\nT: 0 0 0\n"),
     r"calib_velo_to_cam\.txt:1: R must be numbers"),
    (lambda d: _replace(d / "oxts" / "data" / "0000000002.txt", b"49.0 8.4 1\n"),
     r"0000000002\.txt:1: an OXTS packet .* must be 30 finite numbers"),
    (lambda d: _replace(d / "image_02" / "timestamps.txt", b"2011-09-26 13:02:25.000000000\n"),
     r"image_02/timestamps\.txt: has 1 timestamps, frame 0000000001 needs line 2"),
    (lambda d: _replace(d / "image_02" / "timestamps.txt", b"2011-09-26 13:02:25.0\n2011-09-26 13:03:25.0\n"),
     r"_sync/oxts: no pose for frame 0000000001 \(pose wanted at"),
])
def test_bad_raw_files_name_the_file_and_the_build_skips_the_frame(raw_root, tmp_path, damage, message):
    frame_id = "kitti/2011_09_26_drive_0005/0000000001/image_02"
    damage(raw_root / "2011_09_26" / "2011_09_26_drive_0005_sync")
    with pytest.raises(SourceError, match=message):
        source(raw_root).load_frame(frame_id)


def test_a_build_skips_and_counts_a_frame_with_a_truncated_scan(raw_root, tmp_path):
    _replace(raw_root / "2011_09_26" / "2011_09_26_drive_0005_sync" / "velodyne_points" / "data" / "0000000001.bin",
             b"\0" * 20)
    records, manifest = build_records(tmp_path / "out", "kitti", raw_root, tasks=("distance",), sampling=sampling(40))
    assert manifest["frames"]["skipped"] == {"source_error": 1}
    assert manifest["frames"]["skipped_ids"]["source_error"] == ["kitti/2011_09_26_drive_0005/0000000001/image_02"]
    assert {r["provenance"]["frames"][0].split("/")[2] for r in records} == {"0000000000", "0000000002"}


def test_malformed_object_calibration_names_the_file(shared_data, tmp_path):
    root = tmp_path / "object"
    shutil.copytree(shared_data / "kitti_object_kuixu" / "training", root / "training", symlinks=True)
    calib = root / "training" / "calib" / "000000.txt"
    calib.write_text(calib.read_text().replace("R0_rect", "R1_rect"))
    with pytest.raises(SourceError, match=r"calib/000000\.txt: missing 'R0_rect' \(KITTI object layout"):
        source(root).load_frame("kitti/training/000000/image_02")
    with pytest.raises(SourceError, match="does not name a frame of the object layout"):
        source(root).load_frame("kitti/2011_09_26_drive_0005/0000000000/image_02")


@pytest.mark.parametrize("options, field", [({"layout": "odometry"}, "layout"), ({"motion_compensation": "yes"},
                                            "motion_compensation"), ({"layout": "object", "depth_completion": "x"},
                                                                     "depth_completion")])
def test_options_are_checked(tmp_path, options, field):
    with pytest.raises(ConfigError, match=field):
        source(tmp_path, **options)


def _replace(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)
