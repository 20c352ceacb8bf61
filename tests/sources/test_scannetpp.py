"""The scannetpp source on fakes in ScanNet++'s layout: a room of known geometry, the DSLR's fisheye and the
iPhone's camera as COLMAP models, labels checked against the analytic answer."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from datagen.errors import ConfigError, SourceError
from datagen.normalize import NormalizeConfig, plan_normalization
from datagen.pipeline import masked_view, mesh_view
from datagen.sources import REGISTRY
from datagen.sources.scannetpp import ScanNetppSource
from tests.sources.label_checks import build_records
from tests.sources.mesh_files import box_distance, exact_pose, label_rays, room, write_colmap, write_image, write_mesh

SCENES = ("0a5c013435", "1ada7a0617")
#: A DSLR like ScanNet++'s (1752x1168 px, f ~ 790 px, OPENCV_FISHEYE) scaled down by 10.
DSLR = ("fisheye", 176, 116, [79.0, 79.0, 87.5, 57.5], [-0.03, 0.004, -0.001, 0.0002])
IPHONE = ("radtan", 96, 72, [75.0, 75.0, 47.5, 35.5], [0.02, -0.01, 0.0005, -0.0002, 0.0])
#: A long room: the DSLR at the origin looking along +z sees only the far wall (z = 3 m), corners included.
HALF = (30.0, 30.0, 3.0)
DSLR_POSES = [exact_pose((1.0, 0, 0, 0), (0.0, 0.0, 0.0)), exact_pose((1.0, 0, 0, 0), (0.5, -0.25, 0.5)),
              exact_pose((0.0, 1.0, 0.0, 0.0), (1.0, 0.5, 1.0))]
IPHONE_POSES = [exact_pose((1.0, 0, 0, 0), (0.25, 0.0, -1.0))]


def write_scene(data, scene_id: str, holes=None, iphone_depth_m: float | None = None, masks: bool = False):
    folder = data / scene_id
    vertices, faces = room(HALF, cells=4, holes=holes)
    write_mesh(folder / "scans" / "mesh_aligned_0.05.ply", vertices, faces)
    dslr = [(f"DSC{k + 1:05d}.JPG", *DSLR, pose) for k, pose in enumerate(DSLR_POSES)]
    write_colmap(folder / "dslr" / "colmap", dslr)
    for k, camera in enumerate(dslr):
        write_image(folder / "dslr" / "resized_images" / camera[0], DSLR[1], DSLR[2], seed=k)
    iphone = [(f"frame_{k:06d}.jpg", *IPHONE, pose) for k, pose in enumerate(IPHONE_POSES)]
    write_colmap(folder / "iphone" / "colmap", iphone)
    write_image(folder / "iphone" / "rgb" / "frame_000000.jpg", IPHONE[1], IPHONE[2], seed=9)
    if iphone_depth_m is not None:  # 3x below the colour image, as the iPhone's 256x192 is to 1920x1440 / 7.5
        (folder / "iphone" / "depth").mkdir(parents=True)
        depth = np.full((IPHONE[2] // 3, IPHONE[1] // 3), round(iphone_depth_m * 1000), dtype=np.uint16)
        Image.fromarray(depth).save(folder / "iphone" / "depth" / "frame_000000.png")
    if masks:
        mask = np.full((DSLR[2], DSLR[1]), 255, dtype=np.uint8)
        mask[:, : DSLR[1] // 2] = 0  # an anonymised left half
        (folder / "dslr" / "resized_anon_masks").mkdir(parents=True)
        Image.fromarray(mask).save(folder / "dslr" / "resized_anon_masks" / "DSC00001.png")
    return folder


@pytest.fixture
def download(tmp_path):
    root = tmp_path / "scannetpp"
    for scene_id in SCENES:
        write_scene(root / "data", scene_id)
    (root / "splits").mkdir()
    (root / "splits" / "nvs_sem_train.txt").write_text(SCENES[0] + "\n")
    (root / "splits" / "nvs_sem_val.txt").write_text(SCENES[1] + "\n")
    return root


def _source(root, **options) -> ScanNetppSource:
    return ScanNetppSource(ScanNetppSource.Config(root=root, **options))


def test_lists_registered_dslr_images_with_official_splits(download):
    assert REGISTRY.load_builtins().get("scannetpp") is ScanNetppSource
    (download / "data" / SCENES[1] / "dslr" / "resized_images" / "DSC00003.JPG").unlink()  # not on disk
    table = _source(download).frame_table()
    assert table.frame_ids.tolist() == [f"scannetpp/{SCENES[0]}/DSC0000{k}/dslr" for k in (1, 2, 3)] + \
        [f"scannetpp/{SCENES[1]}/DSC0000{k}/dslr" for k in (1, 2)]
    assert table.split.tolist() == ["train"] * 3 + ["val"] * 2 and set(table.camera) == {"dslr"}
    both = _source(download, devices=["dslr", "iphone"]).frame_table()
    assert both.frame_ids[3] == f"scannetpp/{SCENES[0]}/frame_000000/iphone"
    assert _source(download / "data").frame_ids() == table.frame_ids.tolist()
    assert _source(download / "data" / SCENES[0]).frame_ids() == table.frame_ids[:3].tolist()


def test_fisheye_labels_are_exact_where_a_depth_formula_would_be_half_wrong(download):
    """The far wall is 3 m away along the optical axis at every pixel: every label's z is 3 m, and its range is
    z times the length of its normalised ray, which reaches 1.5 near the corners, so that a label taking the
    range (or the fisheye's radial distance) for z would be off by half there."""
    frame = _source(download).load_frame(f"scannetpp/{SCENES[0]}/DSC00001/dslr")
    assert frame.camera.model == "fisheye"
    chain = plan_normalization(frame.camera, NormalizeConfig(target_focal_px=DSLR[3][0], processor="none"))
    view = mesh_view(frame.mesh, chain.camera)
    assert len(view) == DSLR[1] * DSLR[2]  # the undistorted image keeps the size: the wall fills it
    np.testing.assert_allclose(view.z_m, 3.0, atol=1e-9)
    fx, fy, cx, cy = chain.camera.fx, chain.camera.fy, chain.camera.cx, chain.camera.cy
    stretch = np.hypot(np.hypot((view.pixels[:, 0] - cx) / fx, (view.pixels[:, 1] - cy) / fy), 1.0)
    np.testing.assert_allclose(view.range_m, 3.0 * stretch, rtol=1e-12)
    assert stretch.max() > 1.5


def test_every_label_of_a_build_is_the_rooms_analytic_distance(download, tmp_path):
    records, manifest = build_records(tmp_path / "out", "scannetpp", download, {"devices": ["dslr", "iphone"]},
                                      tasks=("distance", "axis_distance", "two_point"),
                                      normalize={"target_focal_px": 79.0, "processor": "none"},
                                      sampling={"points_per_frame": 8, "pairs_per_frame": 2})
    assert manifest["frames"]["skipped"] == {} and manifest["frames"]["planned"] == 8
    poses = {f"scannetpp/{s}/DSC0000{k + 1}/dslr": p for s in SCENES for k, p in enumerate(DSLR_POSES)}
    poses.update({f"scannetpp/{s}/frame_000000/iphone": IPHONE_POSES[0] for s in SCENES})
    checked = 0
    for record in records:
        T = poses[record["provenance"]["frames"][0]]
        for (centre, direction, ray), z, r in zip(label_rays(record, T), record["label"]["z_m"],
                                                  record["label"]["range_m"]):
            t = box_distance(centre, direction, HALF)
            assert abs(r - t) <= 1e-6 and abs(z - t * ray[2]) <= 1e-6, record["id"]
            checked += 1
    assert checked >= 8 * 8
    assert {r["split"] for r in records} == {"train", "val"}


def test_pose_task_translation_is_colmaps(download, tmp_path):
    records, _ = build_records(tmp_path / "out", "scannetpp", download, tasks=("distance", "pose"),
                               normalize={"target_focal_px": 79.0, "processor": "none"})
    pairs = [r for r in records if r["task"] == "pose"]
    assert pairs
    for record in pairs:
        a, b = (int(f.split("/")[2][-1]) - 1 for f in record["provenance"]["frames"])
        T_cam0_cam1 = np.linalg.inv(DSLR_POSES[a]) @ DSLR_POSES[b]
        assert record["value"] == pytest.approx(np.linalg.norm(T_cam0_cam1[:3, 3]), rel=1e-12)


def test_iphone_depth_drops_labels_behind_a_hole_in_the_scan(tmp_path):
    """A 1.5 m square of the far wall is missing from the scan; the iPhone, 4 m from the wall, measured it:
    the rays through the hole meet a second shell 7 m away, facing the camera (no back-face test can tell)."""
    folder = write_scene(tmp_path / "data", SCENES[0], iphone_depth_m=4.0)
    near_v, near_f = room(HALF, cells=40, holes={5: [(20, 20)]})
    far_v, far_f = room((30.0, 30.0, 6.0), cells=1)
    write_mesh(folder / "scans" / "mesh_aligned_0.05.ply", np.vstack([near_v, far_v]),
               np.vstack([near_f, far_f + len(near_v)]))
    frame_id = f"scannetpp/{SCENES[0]}/frame_000000/iphone"
    views = {}
    for check in (False, True):
        frame = _source(tmp_path / "data", devices=["iphone"], iphone_depth_check=check).load_frame(frame_id)
        views[check] = masked_view(mesh_view(frame.mesh, frame.camera), frame)
    through = views[False].z_m > 6.0  # the camera stands at z = -1
    assert through.sum() > 300 and (~through).sum() > 3000
    np.testing.assert_allclose(views[False].z_m[~through], 4.0, atol=1e-9)
    np.testing.assert_allclose(views[True].z_m, 4.0, atol=1e-9)  # none through the hole is left
    # the verdict, made per depth pixel (3x3 colour pixels) and widened by one, reaches at most 6 colour
    # pixels past the hole's edge (a square of side sqrt(area))
    assert (~through).sum() - 4 * 6 * np.sqrt(through.sum()) < len(views[True]) < (~through).sum()


def test_anonymised_pixels_carry_no_label(tmp_path):
    write_scene(tmp_path / "data", SCENES[0], masks=True)
    frame = _source(tmp_path / "data").load_frame(f"scannetpp/{SCENES[0]}/DSC00001/dslr")
    assert frame.label_mask[:, : DSLR[1] // 2].sum() == 0 and frame.label_mask[:, DSLR[1] // 2:].all()
    assert _source(tmp_path / "data", anon_masks=False).load_frame(frame.frame_id).label_mask is None
    assert _source(tmp_path / "data").load_frame(f"scannetpp/{SCENES[0]}/DSC00002/dslr").label_mask is None


def test_bad_input_names_the_file(download, tmp_path):
    scene = download / "data" / SCENES[1]
    (scene / "scans" / "mesh_aligned_0.05.ply").unlink()
    with pytest.raises(SourceError, match="mesh_aligned_0.05.ply: missing"):
        _source(download).load_frame(f"scannetpp/{SCENES[1]}/DSC00001/dslr")
    _, manifest = build_records(tmp_path / "out", "scannetpp", download, tasks=("distance",),
                                normalize={"target_focal_px": 79.0, "processor": "none"})
    assert manifest["frames"]["skipped"] == {"source_error": 3}
    images_txt = download / "data" / SCENES[0] / "dslr" / "colmap" / "images.txt"
    lines = images_txt.read_text().splitlines()
    images_txt.write_text("\n".join(lines[:1] + ["1 0.5 0.5 DSC00001.JPG"] + lines[3:]) + "\n")
    with pytest.raises(SourceError, match=r"images.txt:2: expected 'IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME'"):
        _source(download).frame_table()
    with pytest.raises(SourceError, match="is not 'scannetpp/<scene>/<image stem>/<dslr|iphone>'"):
        _source(download).load_frame("scannetpp/x/DSC00001")
    with pytest.raises(ConfigError, match="devices"):
        ScanNetppSource.Config(root=download, devices=["dslr", "ipad"])


def test_unregistered_image_and_8_bit_depth_are_refused(tmp_path):
    folder = write_scene(tmp_path / "data", SCENES[0], iphone_depth_m=2.0)
    with pytest.raises(SourceError, match="no registered image 'DSC00009'"):
        _source(tmp_path / "data").load_frame(f"scannetpp/{SCENES[0]}/DSC00009/dslr")
    Image.fromarray(np.full((24, 32), 20, dtype=np.uint8)).save(folder / "iphone" / "depth" / "frame_000000.png")
    with pytest.raises(SourceError, match="frame_000000.png: expected a 16-bit single-channel depth PNG"):
        _source(tmp_path / "data", devices="iphone").load_frame(f"scannetpp/{SCENES[0]}/frame_000000/iphone")
