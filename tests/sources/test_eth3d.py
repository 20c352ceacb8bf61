"""The eth3d source on a fake training scene in ETH3D's layout: a slanted wall seen by two posed DSLR images.

The depth maps belong to the distorted images (THIN_PRISM_FISHEYE); here they are made from the
wall with rays found by a generic root finder on COLMAP's projection formula, independent of the
source's Newton solver, and every label is checked against the wall.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.optimize import fsolve
from scipy.spatial.transform import Rotation

from datagen.config import load_config
from datagen.errors import ConfigError, SourceError
from datagen.pipeline import build
from datagen.records import iter_records
from datagen.sources import REGISTRY
from datagen.sources._thin_prism import ThinPrismFisheye
from datagen.sources.eth3d import ETH3DSource
from tests.sources.colmap_files import write_text_model
from tests.sources.label_checks import assert_range_and_value

#: A small distorted DSLR: ETH3D-like coefficients, the field of view of its 6048 x 4032 images.
LENS = (48, 32, [27.0, 27.1, 24.3, 15.8, 0.21, 0.21, 0.001, -0.0006, -0.16, 0.83, 0.0008, 0.0003])
PINHOLE = (56, 38, [25.0, 25.0, 28.0, 19.0])  # the undistorted images' camera (COLMAP pixels)
WALL_NORMAL = np.array([-0.3, 0.1, 1.0]) / np.linalg.norm([-0.3, 0.1, 1.0])  # world frame
WALL_OFFSET = 4.0 / np.linalg.norm([-0.3, 0.1, 1.0])  # the wall: normal . X = offset (metres)
#: COLMAP poses (world to camera, qw qx qy qz and t) of the two images.
POSES = {"DSC_0001": (Rotation.identity(), np.zeros(3)),
         "DSC_0002": (Rotation.from_euler("y", 6, degrees=True), np.array([-0.6, 0.05, 0.1]))}


def colmap_pixel(params, xy) -> np.ndarray:
    """COLMAP's THIN_PRISM_FISHEYE ImgFromCam, transcribed from models.h, for one normalised ray."""
    fx, fy, cx, cy, k1, k2, p1, p2, k3, k4, sx1, sy1 = params
    r = np.hypot(*xy)
    u, v = (np.arctan(r) / r * xy) if r > 1e-12 else xy
    r2 = u * u + v * v
    radial = k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3 + k4 * r2 ** 4
    du = u * radial + 2 * p1 * u * v + p2 * (r2 + 2 * u * u) + sx1 * r2
    dv = v * radial + 2 * p2 * u * v + p1 * (r2 + 2 * v * v) + sy1 * r2
    return np.array([fx * (u + du) + cx, fy * (v + dv) + cy])


def pixel_rays(params, width, height) -> np.ndarray:
    """(H, W, 2) normalised rays of every pixel centre (COLMAP: +0.5), by a generic root finder."""
    rays = np.empty((height, width, 2))
    for v in range(height):
        for u in range(width):
            target = np.array([u + 0.5, v + 0.5])
            guess = (target - params[2:4]) / params[:2]
            rays[v, u], info, _, _ = fsolve(lambda xy: colmap_pixel(params, xy) - target, guess, xtol=1e-12,
                                            full_output=True)
            assert np.abs(info["fvec"]).max() < 1e-9  # pixels
    return rays


def wall_points(stem: str, rays: np.ndarray) -> np.ndarray:
    """(N, 3) the wall's points seen along ``rays`` by image ``stem``, in its camera frame (the scanned pixels)."""
    normal, offset = wall_in_camera(stem)
    homogeneous = np.concatenate([rays, np.ones(rays.shape[:2] + (1,))], axis=-1)
    z = offset / (homogeneous @ normal)
    scanned = np.ones(rays.shape[:2], bool)
    scanned[:4, :6] = False  # write_scene leaves this block without depth
    return (homogeneous * z[..., None])[scanned]


def wall_in_camera(stem: str) -> tuple[np.ndarray, float]:
    """The wall as (normal, offset) in the camera frame of image ``stem``."""
    rotation, t = POSES[stem]
    normal = rotation.as_matrix() @ WALL_NORMAL
    return normal, WALL_OFFSET + normal @ t


@pytest.fixture(scope="module")
def lens_rays() -> np.ndarray:
    return pixel_rays(np.array(LENS[2]), LENS[0], LENS[1])


def write_scene(root: Path, rays: np.ndarray, scene: str = "courtyard") -> Path:
    """A scene in the ETH3D layout: undistorted images and model, distorted model, raw float32 depth."""
    folder = root / scene
    images_u = [(i, POSES[s][0].as_quat(scalar_first=True), POSES[s][1], 1, f"dslr_images_undistorted/{s}.JPG")
                for i, s in enumerate(POSES, 1)]
    write_text_model(folder / "dslr_calibration_undistorted", {1: ("PINHOLE", *PINHOLE)}, images_u)
    images_d = [(i, q, t, 1, name.replace("dslr_images_undistorted", "dslr_images")) for i, q, t, _, name in images_u]
    write_text_model(folder / "dslr_calibration_jpg", {1: ("THIN_PRISM_FISHEYE", *LENS)}, images_d)
    (folder / "images" / "dslr_images_undistorted").mkdir(parents=True)
    (folder / "ground_truth_depth" / "dslr_images").mkdir(parents=True)
    for stem in POSES:
        Image.fromarray(np.full((PINHOLE[1], PINHOLE[0], 3), 120, np.uint8)).save(
            folder / "images" / "dslr_images_undistorted" / f"{stem}.JPG")
        normal, offset = wall_in_camera(stem)
        homogeneous = np.concatenate([rays, np.ones(rays.shape[:2] + (1,))], axis=-1)
        depth = (offset / (homogeneous @ normal)).astype("<f4")
        depth[:4, :6] = np.inf  # no scan here
        depth.tofile(folder / "ground_truth_depth" / "dslr_images" / f"{stem}.JPG")
    return folder


@pytest.fixture
def eth3d_root(tmp_path, lens_rays) -> Path:
    write_scene(tmp_path / "eth3d", lens_rays)
    write_text_model(tmp_path / "eth3d" / "botanical_garden" / "dslr_calibration_undistorted", {}, [])  # a test scene
    return tmp_path / "eth3d"


def _source(root: Path, **options) -> ETH3DSource:
    return ETH3DSource(ETH3DSource.Config(root=root, **options))


def test_table_lists_the_training_scenes_images(eth3d_root):
    assert REGISTRY.load_builtins().get("eth3d") is ETH3DSource
    table = _source(eth3d_root).frame_table()
    assert table.frame_ids.tolist() == ["eth3d/courtyard/DSC_0001", "eth3d/courtyard/DSC_0002"]
    assert table.sequence.tolist() == ["courtyard"] * 2 and table.split.tolist() == ["train"] * 2
    assert table.camera is None
    assert _source(eth3d_root, split=None).frame_table().split is None


def test_every_depth_pixel_becomes_its_point_on_the_wall(eth3d_root, lens_rays):
    for stem in POSES:
        frame = _source(eth3d_root, stride=1).load_frame(f"eth3d/courtyard/{stem}")
        normal, offset = wall_in_camera(stem)
        expected = wall_points(stem, lens_rays)
        assert frame.points.shape == expected.shape
        np.testing.assert_allclose(frame.points, expected, rtol=1e-6, atol=1e-6)  # float32 depth file
        np.testing.assert_allclose(frame.points @ normal, offset, rtol=1e-6)
        assert frame.meta["points_from"] == "depth_map" and np.array_equal(frame.T_cam_points, np.eye(4))
        assert frame.camera.intrinsics() == [25.0, 25.0, 27.5, 18.5, 56, 38]  # COLMAP's centre minus 0.5
    # every stride-th pixel in each direction, less those of the unscanned 4 x 6 block
    assert len(_source(eth3d_root, stride=2).load_frame("eth3d/courtyard/DSC_0001").points) == 24 * 16 - 2 * 3
    assert len(_source(eth3d_root).load_frame("eth3d/courtyard/DSC_0001").points) == 16 * 11 - 2 * 2


def test_poses_are_the_colmap_poses(eth3d_root):
    for stem, (rotation, t) in POSES.items():
        frame = _source(eth3d_root).load_frame(f"eth3d/courtyard/{stem}")
        T_cam_world = np.eye(4)
        T_cam_world[:3, :3], T_cam_world[:3, 3] = rotation.as_matrix(), t
        np.testing.assert_allclose(frame.camera.T_world_cam, np.linalg.inv(T_cam_world), atol=1e-12)


def test_a_build_labels_the_wall_and_states_the_colmap_motion(eth3d_root, lens_rays, tmp_path):
    config = load_config(None, {"source": "eth3d", "root": str(eth3d_root), "tasks": ["distance", "pose"],
                                "source_options": {"stride": 1}, "normalize": {"target_focal_px": 50.0},
                                "sampling": {"points_per_frame": 15, "strategy": "uniform"}})
    build(config, tmp_path / "out", strict=True)
    records = list(iter_records(tmp_path / "out"))
    distance = [r for r in records if r["task"] == "distance"]
    assert len(distance) == 30
    for record in distance:
        # the label is a scanned wall point, moved to the normalised pixel its projection rounds to
        points = wall_points(record["provenance"]["frames"][0][-8:], lens_rays)
        fx, fy, cx, cy = record["camera"][:4]
        pixels = np.floor(points[:, :2] / points[:, 2:] * [fx, fy] + [cx, cy] + 0.5)
        z = points[np.all(pixels == record["label"]["pixels"][0], axis=1), 2]
        assert np.min(np.abs(z - record["label"]["z_m"][0])) <= 1e-6 * z.max()
        assert_range_and_value(record)
        assert record["split"] == "train" and record["provenance"]["depth_from"] == "depth_map"
    poses = [r for r in records if r["task"] == "pose"]
    assert poses
    for record in poses:
        first, second = (POSES[f[-8:]] for f in record["provenance"]["frames"])
        # x_cam = R x_world + t: camera centre -R^T t; the second centre in the first camera's axes
        centre = [-rotation.as_matrix().T @ t for rotation, t in (first, second)]
        expected = first[0].as_matrix() @ (centre[1] - centre[0])
        np.testing.assert_allclose(record["label"]["translation_m"], expected, atol=1e-12)
        assert record["value"] == pytest.approx(np.linalg.norm(expected), rel=1e-12)


def test_lens_inverse_round_trips_over_a_full_size_image():
    lens = ThinPrismFisheye(6048, 4032, [3408.6, 3408.9, 3033.4, 2009.8, 0.21, 0.21, 0.001, -0.0006, -0.16, 0.83,
                                         0.0008, 0.0003])
    rows, cols = np.mgrid[0:4032:97, 0:6048:97]
    pixels = np.column_stack([cols.ravel(), rows.ravel()]) + 0.5
    rays, ok = lens.unproject(pixels)
    assert ok.all()
    np.testing.assert_allclose(lens.project(rays), pixels, atol=1e-8)


# --- bad input ----------------------------------------------------------------------------------


def test_missing_downloads_say_which(eth3d_root):
    scene = eth3d_root / "courtyard"
    (scene / "ground_truth_depth" / "dslr_images" / "DSC_0002.JPG").unlink()
    with pytest.raises(SourceError, match=r"DSC_0002\.JPG: missing .*dslr_depth"):
        _source(eth3d_root).load_frame("eth3d/courtyard/DSC_0002")
    (scene / "dslr_calibration_jpg" / "cameras.txt").unlink()
    with pytest.raises(SourceError, match=r"dslr_calibration_jpg/cameras\.txt: missing .*distorted images"):
        _source(eth3d_root).load_frame("eth3d/courtyard/DSC_0001")


def test_malformed_files_name_the_file(eth3d_root):
    scene = eth3d_root / "courtyard"
    with pytest.raises(SourceError, match=r"no image 'DSC_0009'"):
        _source(eth3d_root).load_frame("eth3d/courtyard/DSC_0009")
    images = scene / "dslr_calibration_jpg" / "images.txt"
    text = images.read_text()
    images.write_text(text.replace(" -0.6 0.05 0.1 1 dslr_images/DSC_0002", " -0.61 0.05 0.1 1 dslr_images/DSC_0002"))
    with pytest.raises(SourceError, match=r"images\.txt: the pose of 'DSC_0002\.JPG' differs"):
        _source(eth3d_root).load_frame("eth3d/courtyard/DSC_0002")
    images.write_text(text)
    depth = scene / "ground_truth_depth" / "dslr_images" / "DSC_0001.JPG"
    depth.write_bytes(depth.read_bytes()[:-4])
    with pytest.raises(SourceError, match=r"DSC_0001\.JPG: 6140 bytes, expected 48x32 float32"):
        _source(eth3d_root).load_frame("eth3d/courtyard/DSC_0001")
    cameras = scene / "dslr_calibration_jpg" / "cameras.txt"
    cameras.write_text(cameras.read_text().replace("THIN_PRISM_FISHEYE 48 32", "OPENCV 48 32"))
    with pytest.raises(SourceError, match=r"cameras\.txt:3: expected 'CAMERA_ID THIN_PRISM_FISHEYE"):
        _source(eth3d_root).load_frame("eth3d/courtyard/DSC_0002")


def test_bad_frames_are_skipped_and_counted(eth3d_root, tmp_path):
    depth = eth3d_root / "courtyard" / "ground_truth_depth" / "dslr_images" / "DSC_0002.JPG"
    depth.write_bytes(depth.read_bytes()[:100])
    config = load_config(None, {"source": "eth3d", "root": str(eth3d_root), "tasks": ["distance"],
                                "normalize": {"target_focal_px": 50.0}, "sampling": {"points_per_frame": 3}})
    manifest = build(config, tmp_path / "out")
    assert manifest["frames"]["skipped_ids"] == {"source_error": ["eth3d/courtyard/DSC_0002"]}
    assert manifest["counts"]["total"] == 3


@pytest.mark.parametrize("options, field", [({"stride": 0}, "stride"), ({"split": "training"}, "split"),
                                            ({"scenes": []}, "scenes")])
def test_bad_options_are_refused(tmp_path, options, field):
    with pytest.raises(ConfigError, match=f"eth3d source: {field}"):
        _source(tmp_path, **options)
