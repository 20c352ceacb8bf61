"""The nyuv2 source: the labelled .mat (v7.3, written here from real NYUv2 frames) and splits.mat."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from datagen.config import load_config
from datagen.errors import ConfigError, SourceError
from datagen.pipeline import build
from datagen.records import iter_records, read_manifest
from datagen.sources import REGISTRY
from datagen.sources.nyuv2 import CX_RGB, CY_RGB, FX_RGB, FY_RGB, NYUv2Source
from tests.sources.label_checks import assert_range_and_value, source_pixel_index
from tests.sources.matlab_files import write_v5, write_v73

SAMPLE = "nyuv2_metric3d/nyu_demo"
FRAMES = ("00000", "00050", "00100")
SCENES = ["sample_room_0001", "sample_room_0001", "sample_room_0002"]
#: get_projection_mask.m, 1-based inclusive: rows 45..471, columns 41..601.
MASK_ROWS, MASK_COLS = (45 - 1, 471 - 1), (41 - 1, 601 - 1)


def _sample_arrays(sample: Path) -> tuple[np.ndarray, np.ndarray]:
    """(480, 640, 3, 3) uint8 images and (480, 640, 3) float32 raw depths (metres) of the three frames."""
    images = np.stack([np.asarray(Image.open(sample / f"rgb/rgb_{n}.jpg")) for n in FRAMES], axis=-1)
    depth_mm = np.stack([np.asarray(Image.open(sample / f"depth/sync_depth_{n}.png")) for n in FRAMES], axis=-1)
    return images, (depth_mm / 1000.0).astype(np.float32)


def _filled(raw: np.ndarray) -> np.ndarray:
    """A stand-in for the colorization fill: every hole takes its nearest measured value."""
    filled = raw.copy()
    for k in range(raw.shape[-1]):
        _, (rows, cols) = ndimage.distance_transform_edt(raw[..., k] == 0, return_indices=True)
        filled[..., k] = raw[rows, cols, k]
    return filled


def write_labeled(root: Path, images: np.ndarray, raw: np.ndarray, filled: np.ndarray, scenes: list[str],
                  train=(1, 3), test=(2,), **chunks) -> Path:
    """The labelled set and splits.mat in ``root``, laid out as the NYU release has them."""
    root.mkdir(parents=True, exist_ok=True)
    write_v73(root / "nyu_depth_v2_labeled.mat", {"images": images, "rawDepths": raw, "depths": filled,
                                                   "scenes": scenes})
    write_v5(root / "splits.mat", {"trainNdxs": np.array(train, dtype=np.float64).reshape(-1, 1),
                                   "testNdxs": np.array(test, dtype=np.float64).reshape(-1, 1)})
    return root


@pytest.fixture
def sample(shared_data) -> Path:
    return shared_data / SAMPLE


@pytest.fixture
def labeled(tmp_path, sample) -> Path:
    images, raw = _sample_arrays(sample)
    return write_labeled(tmp_path / "nyu", images, raw, _filled(raw), SCENES)


def _source(root: Path, **options) -> NYUv2Source:
    return NYUv2Source(NYUv2Source.Config(root=root, **options))


def test_registered_and_the_table_has_scenes_and_official_splits(labeled):
    assert REGISTRY.load_builtins().get("nyuv2") is NYUv2Source
    table = _source(labeled).frame_table()
    assert table.frame_ids.tolist() == ["nyuv2/sample_room_0001/0001", "nyuv2/sample_room_0001/0002",
                                        "nyuv2/sample_room_0002/0003"]
    assert table.sequence.tolist() == SCENES
    assert table.split.tolist() == ["train", "test", "train"]
    assert table.camera is None
    assert _source(labeled, splits=None).frame_table().split is None


def test_camera_is_the_published_colour_intrinsics(labeled, sample):
    """The metric3d sample states NYUv2's colour intrinsics independently of the toolbox file."""
    cam_in = json.loads((sample / "test_annotations.json").read_text())["files"][0]["cam_in"]
    frame = _source(labeled).load_frame("nyuv2/sample_room_0001/0002")
    np.testing.assert_allclose(frame.camera.intrinsics()[:4], cam_in, atol=1e-5)
    assert frame.camera.is_pinhole and (frame.camera.width, frame.camera.height) == (640, 480)
    assert frame.depth_kind == "z" and frame.split == "test" and frame.sequence == "sample_room_0001"


@pytest.mark.parametrize("depth", ["raw", "filled"])
def test_labels_are_the_chosen_depths_inside_the_projection_mask(labeled, sample, depth):
    images, raw = _sample_arrays(sample)
    truth = raw if depth == "raw" else _filled(raw)
    for index, frame_id in enumerate(_source(labeled).frame_table().frame_ids):
        frame = _source(labeled, depth=depth).load_frame(frame_id)
        np.testing.assert_array_equal(frame.image, images[..., index])
        expected = np.full((480, 640), np.nan)
        rows, cols = slice(MASK_ROWS[0], MASK_ROWS[1] + 1), slice(MASK_COLS[0], MASK_COLS[1] + 1)
        expected[rows, cols] = np.where(truth[rows, cols, index] > 0, truth[rows, cols, index], np.nan)
        np.testing.assert_array_equal(frame.depth_m, expected)
        if depth == "raw":  # the image's white undistortion border is outside the mask
            assert images[:5, :, :, index].mean() > 245 and images[:, :5, :, index].mean() > 245


def test_values_at_the_clamp_give_no_label(tmp_path, sample):
    images, raw = _sample_arrays(sample)
    raw[200:210, 300:310, 0] = 10.0  # project_depth_map.m's maxDepth clamp
    root = write_labeled(tmp_path / "nyu", images, raw, raw, SCENES)
    frame = _source(root).load_frame("nyuv2/sample_room_0001/0001")
    assert np.isnan(frame.depth_m[200:210, 300:310]).all()


# --- every label of a build, against an independent back-projection -----------------------------




def test_every_label_of_a_build_is_the_png_depth_at_its_pixel(labeled, sample, tmp_path):
    _, raw = _sample_arrays(sample)
    cam_in = json.loads((sample / "test_annotations.json").read_text())["files"][0]["cam_in"]
    config = load_config(None, {"source": "nyuv2", "root": str(labeled), "tasks": ["distance"],
                                "sampling": {"points_per_frame": 20, "strategy": "uniform"}})
    build(config, tmp_path / "out", strict=True)
    records = list(iter_records(tmp_path / "out"))
    assert {r["provenance"]["frames"][0] for r in records} == set(_source(labeled).frame_ids())
    splits = {"nyuv2/sample_room_0001/0001": "train", "nyuv2/sample_room_0001/0002": "test",
              "nyuv2/sample_room_0002/0003": "train"}
    for record in records:
        frame_id = record["provenance"]["frames"][0]
        index = int(frame_id[-4:]) - 1
        u, v = source_pixel_index(record["label"]["pixels"][0], record["provenance"]["transforms"])
        assert MASK_ROWS[0] <= v <= MASK_ROWS[1] and MASK_COLS[0] <= u <= MASK_COLS[1]
        z = float(raw[v, u, index])  # the PNG's millimetres / 1000, as stored in the .mat
        assert z > 0 and record["label"]["z_m"][0] == pytest.approx(z, rel=1e-12)
        assert_range_and_value(record)
        # the normalised camera is the published one, resized
        fx, fy = record["camera"][:2]
        name, (sx, sy) = record["provenance"]["transforms"][0]
        assert name == "resize" and (fx / sx, fy / sy) == pytest.approx(cam_in[:2], rel=1e-6)
        assert record["split"] == splits[frame_id]


# --- the toolbox's 1-based pixel indexing -------------------------------------------------------

#: camera_params.m's depth camera; depth->colour extrinsics simplified to a 25 mm baseline.
FX_D, FY_D, CX_D, CY_D = 5.8262448167737955e+02, 5.8269103270988637e+02, 3.1304475870804731e+02, 2.3844389626620386e+02
BASELINE = np.array([0.025, 0.0, 0.0])


def _toolbox_raw_depth(normal: np.ndarray, offset: float) -> np.ndarray:
    """rawDepths of the plane ``normal . X = offset`` (depth camera frame), made as the toolbox makes it.

    The sensor measures z along each depth pixel's true ray (0-based pixel centres);
    depth_plane2depth_world.m rebuilds X from ``meshgrid(1:640, 1:480)``, rgb_world2rgb_plane.m
    projects, and project_depth_map.m rounds and stores at that 1-based index (z-buffer).
    """
    v, u = np.mgrid[0:480, 0:640].astype(np.float64)
    rays = np.stack([(u - CX_D) / FX_D, (v - CY_D) / FY_D, np.ones_like(u)], axis=-1)
    z = offset / (rays @ normal)
    points = np.stack([(u + 1 - CX_D) * z / FX_D, (v + 1 - CY_D) * z / FY_D, z], axis=-1).reshape(-1, 3) + BASELINE
    x_proj = np.round(points[:, 0] * FX_RGB / points[:, 2] + CX_RGB)
    y_proj = np.round(points[:, 1] * FY_RGB / points[:, 2] + CY_RGB)
    good = (x_proj > 0) & (x_proj < 640) & (y_proj > 0) & (y_proj < 480)
    out = np.full((480, 640), np.inf)
    np.minimum.at(out, ((y_proj[good] - 1).astype(int), (x_proj[good] - 1).astype(int)), points[good, 2])
    return np.where(np.isfinite(out), out, 0.0).astype(np.float32)


def test_published_principal_point_fits_the_toolbox_registration(tmp_path):
    """The toolbox's two 1-based steps cancel: labels fit the plane with the published (cx, cy),
    four times better than with the 1-based reading (cx - 1, cy - 1)."""
    normal, offset = np.array([0.5, 0.2, 0.84]) / np.linalg.norm([0.5, 0.2, 0.84]), 2.5
    raw = _toolbox_raw_depth(normal, offset)[..., None]
    images = np.full((480, 640, 3, 1), 128, dtype=np.uint8)
    root = write_labeled(tmp_path / "nyu", images, raw, raw, ["plane_0001"], train=(1,), test=())
    frame = _source(root).load_frame("nyuv2/plane_0001/0001")
    rows, cols = np.nonzero(np.isfinite(frame.depth_m))
    assert len(rows) > 100_000
    z_label = frame.depth_m[rows, cols]

    def mean_error(cx: float, cy: float) -> float:
        rays = np.stack([(cols - cx) / FX_RGB, (rows - cy) / FY_RGB, np.ones(len(rows))], axis=-1)
        z_true = (offset + normal @ BASELINE) / (rays @ normal)  # the plane in the colour camera frame
        return float(np.mean(np.abs(z_label - z_true)))

    published = mean_error(frame.camera.cx, frame.camera.cy)
    assert (frame.camera.cx, frame.camera.cy) == (CX_RGB, CY_RGB)
    assert published < 0.3 * mean_error(CX_RGB - 1, CY_RGB - 1)
    assert published < 2e-3  # metres, at 1.5-4 m


# --- bad input ----------------------------------------------------------------------------------


def test_missing_files_name_the_file(tmp_path, labeled):
    with pytest.raises(SourceError, match=r"nyu_depth_v2_labeled\.mat: missing"):
        _source(tmp_path).frame_table()
    (labeled / "splits.mat").unlink()
    with pytest.raises(SourceError, match=r"splits\.mat: missing .*null"):
        _source(labeled).frame_table()


def test_malformed_files_name_the_file(tmp_path, labeled):
    (tmp_path / "nyu_depth_v2_labeled.mat").write_bytes(b"MATLAB 7.3 MAT-file" + b"\0" * 600)
    with pytest.raises(SourceError, match=r"nyu_depth_v2_labeled\.mat: not a readable HDF5"):
        _source(tmp_path).frame_table()
    write_v5(labeled / "splits.mat", {"trainNdxs": np.array([[1.0], [4.0]]), "testNdxs": np.array([[2.0]])})
    with pytest.raises(SourceError, match=r"splits\.mat: trainNdxs must be 1-based indices in 1\.\.3"):
        _source(labeled).frame_table()
    write_v5(labeled / "splits.mat", {"trainNdxs": np.array([[1.0]])})
    with pytest.raises(SourceError, match=r"splits\.mat: no variable \['testNdxs'\]"):
        _source(labeled).frame_table()
    with pytest.raises(SourceError, match=r"no frame 'nyuv2/other_room/0001'"):
        _source(labeled, splits=None).load_frame("nyuv2/other_room/0001")


def test_a_corrupt_frame_is_skipped_and_counted(tmp_path, sample):
    images, raw = _sample_arrays(sample)
    path = tmp_path / "nyu" / "nyu_depth_v2_labeled.mat"
    write_labeled(tmp_path / "nyu", images, raw, raw, SCENES)
    with h5py.File(path, "a") as mat:  # rewrite images compressed, one chunk per frame, as a real file may be
        data = mat["images"][()]
        del mat["images"]
        mat.create_dataset("images", data=data, chunks=(1, 3, 640, 480), compression="gzip")
        offset, size = mat["images"].id.get_chunk_info(1).byte_offset, mat["images"].id.get_chunk_info(1).size
    with path.open("r+b") as handle:  # damage frame 2's chunk only
        handle.seek(offset + size // 2)
        handle.write(b"\xff" * 64)
    with pytest.raises(SourceError, match=r"nyu_depth_v2_labeled\.mat: cannot read images\[1\]"):
        _source(tmp_path / "nyu").load_frame("nyuv2/sample_room_0001/0002")
    config = load_config(None, {"source": "nyuv2", "root": str(tmp_path / "nyu"), "tasks": ["distance"],
                                "sampling": {"points_per_frame": 5}})
    manifest = build(config, tmp_path / "out")
    assert manifest["frames"]["skipped_ids"] == {"source_error": ["nyuv2/sample_room_0001/0002"]}
    assert read_manifest(tmp_path / "out")["counts"]["total"] > 0


@pytest.mark.parametrize("options, field", [({"depth": "inpainted"}, "depth"), ({"projection_mask": "yes"},
                                                                                 "projection_mask")])
def test_bad_options_are_refused(tmp_path, options, field):
    with pytest.raises(ConfigError, match=f"nyuv2 source: {field}"):
        _source(tmp_path, **options)
