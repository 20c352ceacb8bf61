"""The tum source: TUM RGB-D sequences (rgb.txt, depth.txt, groundtruth.txt), on the real frame and fakes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation

from datagen.config import BuildConfig
from datagen.errors import ConfigError, SourceError
from datagen.geometry.se3 import make_transform
from datagen.pipeline import ground_truth_view
from datagen.render.base import get_renderer
from datagen.render.scene import Material, Scene, SceneObject
from datagen.sources import REGISTRY
from datagen.sources._timestamps import associate
from datagen.sources.tum import TUMSource
from datagen.types import Camera
from tests.render.conftest import posed_box, z_plane
from tests.sources.depth_checks import check_depth_map_labels
from tests.sources.label_checks import build_records

SEQUENCE = "rgbd_dataset_freiburg1_desk"
RGB_STAMP, DEPTH_STAMP = "1305031452.791720", "1305031452.776914"
FR1_K = np.array([[517.3, 0, 318.6], [0, 516.5, 255.3], [0, 0, 1]])
FR1_DIST = (0.2624, -0.9531, -0.0054, 0.0026, 1.1633)


def _write_lists(folder: Path, rgb: list[str], depth: list[str], truth: list[str] | None) -> None:
    header = "# color images\n# file: 'rgbd_dataset_freiburg1_desk.bag'\n# timestamp filename\n"
    (folder / "rgb.txt").write_text(header + "".join(f"{s} rgb/{s}.png\n" for s in rgb))
    (folder / "depth.txt").write_text(header.replace("color", "depth") + "".join(f"{s} depth/{s}.png\n" for s in depth))
    if truth is not None:
        (folder / "groundtruth.txt").write_text("# ground truth trajectory\n# file: 'x.bag'\n"
                                                "# timestamp tx ty tz qx qy qz qw\n" + "".join(truth))


@pytest.fixture
def tum_root(shared_data, tmp_path) -> Path:
    """The real TUM frame in the official layout of a freiburg1 sequence."""
    folder = tmp_path / "tum" / SEQUENCE
    (folder / "rgb").mkdir(parents=True)
    (folder / "depth").mkdir()
    sample = shared_data / "tum_sun3d_open3d" / "other_formats"
    shutil.copy(sample / "TUM_color.png", folder / "rgb" / f"{RGB_STAMP}.png")
    shutil.copy(sample / "TUM_depth.png", folder / "depth" / f"{DEPTH_STAMP}.png")
    _write_lists(folder, [RGB_STAMP], [DEPTH_STAMP], [f"{RGB_STAMP[:-2]} 1.3405 0.6266 1.6575 0.6574 0.6126 -0.2949 -0.3248\n"])
    return tmp_path / "tum"


def _source(root: Path, **options) -> TUMSource:
    return TUMSource(TUMSource.Config(root=root, **options))


def test_registered_and_lists_the_associated_frame(tum_root):
    assert REGISTRY.load_builtins().get("tum") is TUMSource
    table = _source(tum_root).frame_table()
    assert table.frame_ids.tolist() == [f"tum/{SEQUENCE}/{RGB_STAMP}"]
    assert table.sequence.tolist() == [SEQUENCE] and table.camera is None and table.split is None
    # the sequence folder itself is a root too
    assert _source(tum_root / SEQUENCE).frame_ids() == table.frame_ids.tolist()


def test_every_label_of_the_real_frame_is_its_depth_png_over_5000(tum_root, tmp_path):
    records, manifest = build_records(tmp_path / "out", "tum", tum_root)
    assert manifest["frames"]["skipped"] == {} and len(records) >= 3
    raw = np.asarray(Image.open(tum_root / SEQUENCE / "depth" / f"{DEPTH_STAMP}.png"))
    assert raw.dtype == np.uint16
    depth = {f"tum/{SEQUENCE}/{RGB_STAMP}": raw / 5000.0}
    # freiburg1's published colour calibration, distortion included, maps each label to its pixel
    n = check_depth_map_labels(records, FR1_K, depth, dist=FR1_DIST, tolerance_m=1e-6)
    assert n == sum(len(r["label"]["z_m"]) for r in records)
    assert all(r["provenance"]["transforms"][0][0] == "undistort" for r in records)


def test_calibration_follows_the_sensor_or_the_option(tum_root):
    frame_id = f"tum/{SEQUENCE}/{RGB_STAMP}"
    camera = _source(tum_root).load_frame(frame_id).camera
    assert camera.model == "radtan" and camera.dist.tolist() == list(FR1_DIST)
    np.testing.assert_array_equal(camera.K, FR1_K)
    ros = _source(tum_root, calibration="ros_default").load_frame(frame_id).camera
    assert ros.is_pinhole and ros.intrinsics() == [525.0, 525.0, 319.5, 239.5, 640, 480]
    fr3 = _source(tum_root, calibration="fr3").load_frame(frame_id).camera
    assert fr3.is_pinhole and fr3.intrinsics()[:4] == [535.4, 539.2, 320.1, 247.6]
    renamed = tum_root / "my_sequence"
    (tum_root / SEQUENCE).rename(renamed)
    with pytest.raises(SourceError, match="my_sequence: cannot tell the sensor"):
        _source(tum_root).frame_table()
    with pytest.raises(ConfigError, match="calibration must be one of"):
        TUMSource.Config(root=tum_root, calibration="kinect")


def _associate_py(first: dict, second: dict, max_difference: float) -> list[tuple[float, float]]:
    """TUM's associate.py, as published: all pairs closer than max_difference, nearest first, each once."""
    potential = sorted((abs(a - b), a, b) for a in first for b in second if abs(a - b) < max_difference)
    matches, first_keys, second_keys = [], set(first), set(second)
    for _, a, b in potential:
        if a in first_keys and b in second_keys:
            first_keys.remove(a)
            second_keys.remove(b)
            matches.append((a, b))
    return sorted(matches)


def test_association_is_associate_py(rng):
    rgb = np.sort(1000 + np.cumsum(rng.uniform(0.02, 0.045, 300)))
    depth = np.sort(1000 + np.cumsum(rng.uniform(0.02, 0.045, 300)))
    a, b = associate(rgb, depth, 0.02)
    expected = _associate_py(set(rgb.tolist()), set(depth.tolist()), 0.02)
    assert list(zip(rgb[a].tolist(), depth[b].tolist())) == expected
    assert len(expected) > 100


def test_images_without_a_near_depth_map_are_left_out(tmp_path):
    folder = tmp_path / SEQUENCE
    folder.mkdir()
    _write_lists(folder, ["10.000000", "10.033000", "10.100000"], ["10.010000", "10.060000"], None)
    ids = _source(folder).frame_ids()
    # 10.033 is 0.023 s from 10.010 (taken by 10.000) and 0.027 s from 10.060: no depth within 0.02 s
    assert ids == [f"tum/{SEQUENCE}/10.000000"]
    assert _source(folder, max_difference_s=0.03).frame_ids() == [f"tum/{SEQUENCE}/10.000000",
                                                                   f"tum/{SEQUENCE}/10.033000"]


# --- poses: two frames rendered from a known scene --------------------------------------------


def _quaternion_line(stamp: str, T: np.ndarray) -> str:
    qx, qy, qz, qw = Rotation.from_matrix(T[:3, :3]).as_quat()
    tx, ty, tz = T[:3, 3]
    return f"{stamp} {tx:.6f} {ty:.6f} {tz:.6f} {qx:.9f} {qy:.9f} {qz:.9f} {qw:.9f}\n"


@pytest.fixture
def rendered_root(tmp_path) -> tuple[Path, dict]:
    """Two frames of a freiburg1 camera (distortion included) looking at a wall and a box."""
    scene = Scene(objects=(SceneObject("wall", "plane", z_plane(0.0), Material(pattern="checker")),
                           SceneObject("box", "box", posed_box((0.6, 0.5, 0.7), 0.4, (0.2, 0.1, 0.35))[0],
                                       Material(pattern="brick"))))
    folder = tmp_path / "rgbd_dataset_freiburg1_room"
    (folder / "rgb").mkdir(parents=True)
    (folder / "depth").mkdir()
    look_down = np.diag([1.0, -1.0, -1.0])  # camera z towards the wall (world -z)
    poses = {"20.000000": make_transform(Rotation.from_euler("x", 8, degrees=True).as_matrix() @ look_down,
                                         [0.0, 0.3, 2.5]),
             "21.000000": make_transform(Rotation.from_euler("xy", [4, 6], degrees=True).as_matrix() @ look_down,
                                         [0.45, 0.2, 2.4])}
    renderer = get_renderer("raycast")
    for stamp, T in poses.items():
        camera = Camera(K=FR1_K, width=640, height=480, model="radtan", dist=FR1_DIST, T_world_cam=T)
        result = renderer.render(scene, camera)
        Image.fromarray(result.color).save(folder / "rgb" / f"{stamp}.png")
        z = np.round(np.nan_to_num(result.z_m) * 5000).astype(np.uint16)
        Image.fromarray(z).save(folder / "depth" / f"{stamp}.png")
    stamps = list(poses)
    _write_lists(folder, stamps, stamps, [_quaternion_line(s[:-3] + "004", poses[s]) for s in stamps])
    return folder, poses


def test_depth_warped_with_the_poses_agrees_with_the_other_frame(rendered_root):
    folder, poses = rendered_root
    source = _source(folder)
    first, second = (source.load_frame(f"tum/{folder.name}/{s}") for s in poses)
    config = BuildConfig()
    a, b = ground_truth_view(first, config), ground_truth_view(second, config)
    # 1. first camera -> world -> second camera, with the poses read from groundtruth.txt
    T = np.linalg.inv(second.camera.T_world_cam) @ first.camera.T_world_cam
    points = a.points_cam @ T[:3, :3].T + T[:3, 3]
    uv, valid = second.camera.project(points)
    inside = valid & second.camera.contains(uv)
    cols, rows = np.floor(uv[inside] + 0.5).astype(int).T
    z_second = np.full((480, 640), np.nan)
    z_second[b.pixel_indices()[:, 1], b.pixel_indices()[:, 0]] = b.z_m
    error = np.abs(points[inside, 2] - z_second[rows, cols])
    error = error[np.isfinite(error)]
    print(f"warp first -> second: {len(error)} pixels, median |dz| {1000 * np.median(error):.3f} mm")
    assert len(error) > 50_000 and np.median(error) < 0.002
    np.testing.assert_allclose(first.camera.T_world_cam, poses["20.000000"], atol=1e-6)


def test_pose_task_translation_is_the_groundtruth_one(rendered_root, tmp_path):
    folder, poses = rendered_root
    records, _ = build_records(tmp_path / "out", "tum", folder, tasks=("pose",))
    assert len(records) >= 1
    for record in records:
        first, second = (poses[f.rsplit("/", 1)[1]] for f in record["provenance"]["frames"])
        expected = (np.linalg.inv(first) @ second)[:3, 3]
        np.testing.assert_allclose(record["label"]["translation_m"], expected, atol=1e-6)
        assert record["value"] == pytest.approx(np.linalg.norm(expected), abs=1e-6)


def test_frames_without_groundtruth_have_no_pose_and_pair_with_nothing(rendered_root, tmp_path):
    folder, poses = rendered_root
    (folder / "groundtruth.txt").unlink()
    frame = _source(folder).load_frame(f"tum/{folder.name}/20.000000")
    assert frame.meta["pose_known"] is False
    records, manifest = build_records(tmp_path / "out", "tum", folder, tasks=("pose", "distance"))
    assert not [r for r in records if r["task"] == "pose"] and manifest["counts"]


# --- bad input ---------------------------------------------------------------------------------


def test_bad_files_name_the_file_and_a_build_skips_the_frame(tum_root, tmp_path):
    folder = tum_root / SEQUENCE
    frame_id = f"tum/{SEQUENCE}/{RGB_STAMP}"
    depth_png = folder / "depth" / f"{DEPTH_STAMP}.png"
    eight_bit = np.asarray(Image.open(depth_png)).astype(np.uint8)
    Image.fromarray(eight_bit).save(depth_png)
    with pytest.raises(SourceError, match=f"{DEPTH_STAMP}.png: expected a 640x480 16-bit depth PNG"):
        _source(tum_root).load_frame(frame_id)
    depth_png.unlink()
    with pytest.raises(SourceError, match=f"{DEPTH_STAMP}.png: missing"):
        _source(tum_root).load_frame(frame_id)
    _, manifest = build_records(tmp_path / "out", "tum", tum_root)
    assert manifest["frames"]["skipped"] == {"source_error": 1}
    with pytest.raises(SourceError, match="rgb.txt: no image at 1.5 with a depth map"):
        _source(tum_root).load_frame(f"tum/{SEQUENCE}/1.5")
    (folder / "groundtruth.txt").write_text("# header\n1305031452.79 1.0 2.0 3.0 0.0 0.0\n")
    with pytest.raises(SourceError, match=r"groundtruth.txt:2: expected a timestamp and 7 value"):
        _source(tum_root).frame_table()
    (folder / "groundtruth.txt").write_text("1305031452.79 1 2 3 0 0 0 0\n")
    with pytest.raises(SourceError, match=r"groundtruth.txt:1: pose must be 7 finite numbers .* unit quaternion"):
        _source(tum_root).frame_table()
    (folder / "rgb.txt").write_text("# x\nnot-a-time rgb/x.png\n")
    with pytest.raises(SourceError, match=r"rgb.txt:2: timestamp must be a number"):
        _source(tum_root).frame_table()
