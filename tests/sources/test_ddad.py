"""The ddad source on the real DGP sample scene (one LiDAR sweep, three cameras), and on copies of it
in the official layout with the split file ``ddad.json`` written as DGP defines it.

Labels are checked against SOURCE.md's formula, written out here from the scene JSON: a LiDAR
point p moves into camera c by ``inv(pose_c) . pose_lidar`` (both datum poses sensor -> world,
quaternion qw, qx, qy, qz), then ``K = [[fx, skew, cx], [0, fy, cy], [0, 0, 1]]``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datagen.errors import ConfigError, SourceError
from datagen.records import iter_records
from datagen.sources import REGISTRY
from datagen.sources.ddad import DDADSource
from tests.sources.label_checks import assert_label_is_a_point, build_records, map_pixel, rotation_wxyz, sampling

SAMPLE = "ddad_dgp_testscene"
SCENE_FILE = "scene_a8dc5ed1da0923563f85ea129f0e0a83e7fe1867.json"
CALIBRATION = "calibration/c0e1a6f1c439b282be0066d8dfcad9dd54782030.json"
CAMERAS = ("CAMERA_01", "CAMERA_05", "CAMERA_06")


# ------------------------------------------------------------------ SOURCE.md's formula, by hand


def transform(pose: dict) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = rotation_wxyz(*(pose["rotation"].get(k, 0.0) for k in ("qw", "qx", "qy", "qz")))
    T[:3, 3] = [pose["translation"].get(k, 0.0) for k in "xyz"]
    return T


def sample_datums(scene: Path, index: int = 0) -> dict:
    data = json.loads((scene / SCENE_FILE).read_text())
    by_key = {d["key"]: d for d in data["data"]}
    return {by_key[k]["id"]["name"]: by_key[k] for k in data["samples"][index]["datum_keys"]}


def lidar_in_camera(scene: Path, camera: str) -> np.ndarray:
    """(N, 3) LiDAR points of sample 0 in ``camera``: inv(pose_camera) . pose_lidar . p."""
    datums = sample_datums(scene)
    lidar = datums["LIDAR"]["datum"]["point_cloud"]
    p = np.load(scene / lidar["filename"])["data"][:, :3]
    T = np.linalg.inv(transform(datums[camera]["datum"]["image"]["pose"])) @ transform(lidar["pose"])
    return p @ T[:3, :3].T + T[:3, 3]


def intrinsics(scene: Path, camera: str) -> dict:
    calibration = json.loads((scene / CALIBRATION).read_text())
    return calibration["intrinsics"][calibration["names"].index(camera)]


def pixels_of(points: np.ndarray, k: dict) -> np.ndarray:
    x, y = points[:, 0] / points[:, 2], points[:, 1] / points[:, 2]
    return np.column_stack([k["fx"] * x + k.get("skew", 0.0) * y + k["cx"], k["fy"] * y + k["cy"]])


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def sample(shared_data) -> Path:
    return shared_data / SAMPLE


@pytest.fixture
def dataset(sample, tmp_path) -> Path:
    """The sample scene as scene 000150 of a DDAD root with ddad.json (000150 is in val)."""
    root = tmp_path / "ddad_train_val"
    shutil.copytree(sample / "scene_01", root / "000150")
    split = {"metadata": {"name": "DDAD", "version": "1"},
             "scene_splits": {"0": {"filenames": []}, "1": {"filenames": [f"000150/{SCENE_FILE}"]},
                              "3": {"filenames": [f"000150/{SCENE_FILE}"]}}}
    (root / "ddad.json").write_text(json.dumps(split))
    return root


def _source(root: Path, **options) -> DDADSource:
    return DDADSource(DDADSource.Config(root=root, **options))


# ------------------------------------------------------------------ listing


def test_registered_and_lists_cameras_of_samples_with_the_lidar(sample):
    assert REGISTRY.load_builtins().get("ddad") is DDADSource
    table = _source(sample).frame_table()
    assert table.frame_ids.tolist() == [f"ddad/scene_01/{i:06d}/{c}" for i in range(3) for c in CAMERAS]
    assert table.camera.tolist() == list(CAMERAS) * 3 and set(table.sequence) == {"scene_01"}
    assert table.split is None  # no ddad.json next to the scene: no official split
    assert _source(sample / "scene_01").frame_ids() == table.frame_ids.tolist()


def test_split_file_gives_the_official_split(dataset):
    table = _source(dataset).frame_table()
    assert set(table.split) == {"val"} and set(table.sequence) == {"000150"}
    assert table.frame_ids[0] == "ddad/000150/000000/CAMERA_01"
    assert _source(dataset).load_frame(table.frame_ids[0]).split == "val"


def test_a_scene_in_two_splits_is_refused(dataset):
    split = json.loads((dataset / "ddad.json").read_text())
    split["scene_splits"]["0"]["filenames"] = split["scene_splits"]["1"]["filenames"]
    (dataset / "ddad.json").write_text(json.dumps(split))
    with pytest.raises(SourceError, match="ddad.json: scene 000150 is listed in both train and val"):
        _source(dataset).frame_table()


# ------------------------------------------------------------------ geometry against the formula


def test_points_land_in_each_camera_as_source_md_says(sample):
    source = _source(sample)
    for camera in CAMERAS:
        frame = source.load_frame(f"ddad/scene_01/000000/{camera}")
        expected = lidar_in_camera(sample / "scene_01", camera)
        got = frame.points @ frame.T_cam_points[:3, :3].T + frame.T_cam_points[:3, 3]
        np.testing.assert_allclose(got, expected, atol=1e-9)
        # the calibration (static) chain agrees to 1e-5 m: the car stands still in this scene
        calibration = json.loads((sample / "scene_01" / CALIBRATION).read_text())
        extrinsics = dict(zip(calibration["names"], calibration["extrinsics"]))
        T_static = np.linalg.inv(transform(extrinsics[camera])) @ transform(extrinsics["LIDAR"])
        static = frame.points @ T_static[:3, :3].T + T_static[:3, 3]
        assert np.abs(static - got)[np.linalg.norm(got, axis=1) < 100].max() < 1e-4
        front = expected[:, 2] > 1
        uv, valid = frame.camera.project(got[front])
        assert valid.all()
        np.testing.assert_allclose(uv, pixels_of(expected[front], intrinsics(sample / "scene_01", camera)), atol=1e-8)
        k = intrinsics(sample / "scene_01", camera)
        inside = front & _inside(pixels_of(expected, k), 1936, 1216)
        documented = {"CAMERA_01": 4819, "CAMERA_05": 10872, "CAMERA_06": 10354}  # SOURCE.md, z > 1 m
        assert inside.sum() == documented[camera]
        assert frame.meta["image_minus_lidar_s"] == pytest.approx(0.211478, abs=1e-6)
        assert frame.timestamp_s == pytest.approx(15569195938.415230, abs=1e-6)
        np.testing.assert_allclose(frame.camera.T_world_cam,
                                   transform(sample_datums(sample / "scene_01")[camera]["datum"]["image"]["pose"]),
                                   atol=1e-12)


def _inside(uv: np.ndarray, width: int, height: int) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)


def test_masks_drop_the_points_behind_the_ego_vehicle(sample, tmp_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    keep = np.full((1216, 1936), 255, dtype=np.uint8)
    keep[1090:] = 0  # CAMERA_05 sees the car's bonnet along the bottom of the image
    Image.fromarray(keep).save(masks / "CAMERA_05.png")
    plain = _source(sample).load_frame("ddad/scene_01/000000/CAMERA_05")
    masked = _source(sample, masks=masks).load_frame("ddad/scene_01/000000/CAMERA_05")
    in_camera = plain.points @ plain.T_cam_points[:3, :3].T + plain.T_cam_points[:3, 3]
    uv = pixels_of(np.where(in_camera[:, 2:] > 0, in_camera, np.nan), intrinsics(sample / "scene_01", "CAMERA_05"))
    on_bonnet = _inside(uv, 1936, 1216) & (np.floor(uv[:, 1] + 0.5) >= 1090)
    assert 100 < on_bonnet.sum() < len(in_camera)
    np.testing.assert_array_equal(masked.points, plain.points[~on_bonnet])
    # a camera without a mask keeps every point
    front = _source(sample, masks=masks).load_frame("ddad/scene_01/000000/CAMERA_01")
    assert len(front.points) == len(plain.points)
    Image.fromarray(keep[:100]).save(masks / "CAMERA_05.png")
    with pytest.raises(SourceError, match="CAMERA_05.png: mask is 1936x100 px"):
        _source(sample, masks=masks).load_frame("ddad/scene_01/000000/CAMERA_05")


# ------------------------------------------------------------------ a build, every label checked


def _build(root: Path, out: Path, tasks: list, **overrides) -> dict:
    return build_records(out, "ddad", root, tasks=tasks, **{"frames": 3, "sampling": sampling(15), **overrides})[1]


def test_build_every_label_is_a_lidar_point_on_its_pixel_at_its_depth(dataset, sample, tmp_path):
    out = tmp_path / "out"
    manifest = _build(dataset, out, ["distance", "axis_distance"])
    assert manifest["frames"]["skipped"] == {}
    records = list(iter_records(out))
    assert len(records) == 2 * 15 * len(CAMERAS)
    truth = {}
    for record in records:
        camera = record["provenance"]["frames"][0].split("/")[-1]
        if camera not in truth:
            points = lidar_in_camera(sample / "scene_01", camera)
            points = points[points[:, 2] > 0.1]
            mapped = map_pixel(pixels_of(points, intrinsics(sample / "scene_01", camera)),
                               record["provenance"]["transforms"])
            truth[camera] = (points, mapped)
        assert_label_is_a_point(record, *truth[camera])
        assert record["split"] == "val"


def test_pose_task_translation_follows_the_scene_poses(dataset, sample, tmp_path):
    out = tmp_path / "out"
    _build(dataset, out, ["pose"], sampling={"pose_min_translation_m": 0.01, "pose_min_overlap": 0.05})
    records = [r for r in iter_records(out) if r["task"] == "pose"]
    assert records
    datums = sample_datums(sample / "scene_01")
    for record in records:
        a, b = (f.split("/")[-1] for f in record["provenance"]["frames"])
        T_a, T_b = (transform(datums[c]["datum"]["image"]["pose"]) for c in (a, b))
        expected = (np.linalg.inv(T_a) @ T_b)[:3, 3]
        np.testing.assert_allclose(record["label"]["translation_m"], expected, atol=1e-9)
        assert record["value"] == pytest.approx(np.linalg.norm(expected), abs=1e-9)


def test_frames_whose_files_are_missing_are_skipped_and_counted(sample, tmp_path):
    manifest = _build(sample, tmp_path / "out", ["distance"], frames=None, sampling={"points_per_frame": 1})
    assert manifest["frames"]["skipped"] == {"source_error": 6}  # samples 1 and 2: files not in the sample
    assert all("/000000/" not in i for i in manifest["frames"]["skipped_ids"]["source_error"])


# ------------------------------------------------------------------ bad input


def test_bad_files_name_themselves(dataset):
    scene = dataset / "000150"
    frame_id = "ddad/000150/000000/CAMERA_05"
    cloud = scene / "point_cloud" / "LIDAR" / "15569195938203752.npz"
    data = cloud.read_bytes()
    cloud.write_bytes(data[: len(data) // 3])
    with pytest.raises(SourceError, match=f"{cloud}: not a DGP point cloud"):
        _source(dataset).load_frame(frame_id)
    cloud.write_bytes(data)

    calibration = scene / CALIBRATION
    text = calibration.read_text()
    broken = json.loads(text)
    broken["intrinsics"] = broken["intrinsics"][:2]
    calibration.write_text(json.dumps(broken))
    with pytest.raises(SourceError, match=f"{calibration}: needs 'names', 'intrinsics' and 'extrinsics'"):
        _source(dataset).load_frame(frame_id)
    broken = json.loads(text)
    broken["intrinsics"][2]["fisheye"] = 1
    calibration.write_text(json.dumps(broken))
    with pytest.raises(SourceError, match="lens fields \\['fisheye'\\]"):
        _source(dataset).load_frame(frame_id)
    calibration.write_text(text[:-40])
    with pytest.raises(SourceError, match=f"{calibration}: not valid JSON"):
        _source(dataset).load_frame(frame_id)
    calibration.write_text(text)

    image = scene / "rgb" / "CAMERA_05" / "15569195938415230.jpg"
    image.unlink()
    with pytest.raises(SourceError, match=f"{image}: missing"):
        _source(dataset).load_frame(frame_id)


def test_bad_scene_pose_and_timestamp_name_the_scene_file(dataset):
    path = dataset / "000150" / SCENE_FILE
    scene = json.loads(path.read_text())
    scene["data"][2]["datum"]["image"]["pose"]["rotation"]["qw"] = 3.0
    path.write_text(json.dumps(scene))
    with pytest.raises(SourceError, match=f"{path}: datum .* pose: quaternion"):
        _source(dataset).load_frame("ddad/000150/000000/CAMERA_05")
    scene["data"][2]["datum"]["image"]["pose"]["rotation"]["qw"] = 0.393528631377736
    scene["data"][2]["id"]["timestamp"] = "yesterday"
    path.write_text(json.dumps(scene))
    with pytest.raises(SourceError, match="timestamp 'yesterday' is not RFC 3339"):
        _source(dataset).load_frame("ddad/000150/000000/CAMERA_05")


def test_distortion_fields_become_the_radtan_model(dataset):
    calibration = dataset / "000150" / CALIBRATION
    data = json.loads(calibration.read_text())
    data["intrinsics"][1].update({"k1": -0.1, "k2": 0.02, "p1": 0.001, "p2": -0.002, "k3": 0.003})
    calibration.write_text(json.dumps(data))
    camera = _source(dataset).load_frame("ddad/000150/000000/CAMERA_01").camera
    assert camera.model == "radtan" and camera.dist.tolist() == [-0.1, 0.02, 0.001, -0.002, 0.003]


@pytest.mark.parametrize("options, message", [({"root": None}, "root"), ({"lidar": ""}, "lidar"),
                                              ({"cache_scenes": 0}, "cache_scenes")])
def test_bad_options_are_refused(options, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        DDADSource.Config(**{"root": tmp_path, **options})


def test_a_root_without_scenes_says_what_it_expected(tmp_path):
    with pytest.raises(SourceError, match="no ddad.json and no <scene>/scene_\\*.json"):
        _source(tmp_path).frame_table()
