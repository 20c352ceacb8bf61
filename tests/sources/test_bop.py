"""The bop source: annotated objects placed by their ground-truth poses, on LM-O and on fakes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from datagen.errors import ConfigError, SourceError
from datagen.render.scene import Scene, SceneObject
from datagen.sources import REGISTRY
from datagen.sources.bop import BopSource, object_image
from tests.sources.label_checks import build_records
from tests.sources.mesh_files import first_hit, label_rays

LMO_FRAME = "bop/test-000002/000003"


@pytest.fixture
def lmo(shared_data) -> Path:
    return shared_data / "lmo_bop_6dpose" / "lmo"


def _source(root: Path, **options) -> BopSource:
    return BopSource(BopSource.Config(root=root, **options))


def _placed_models(root: Path, models_dir: str, scene: Path, image_id: int):
    """The image's annotated models in the camera frame, metres, from the BOP files by the documented
    formula x_cam = R_m2c x_model + t_m2c (millimetres): (vertices, faces, object id of each face)."""
    vertices, faces, owner, offset = [], [], [], 0
    for instance in json.loads((scene / "scene_gt.json").read_text())[str(image_id)]:
        model = trimesh.load(root / models_dir / f"obj_{instance['obj_id']:06d}.ply", process=False)
        R = np.array(instance["cam_R_m2c"]).reshape(3, 3)
        vertices.append((np.asarray(model.vertices) @ R.T + instance["cam_t_m2c"]) / 1000.0)
        faces.append(np.asarray(model.faces) + offset)
        owner.append(np.full(len(model.faces), instance["obj_id"]))
        offset += len(model.vertices)
    return np.concatenate(vertices), np.concatenate(faces), np.concatenate(owner)


def test_registered_and_lists_annotated_images(lmo):
    assert REGISTRY.load_builtins().get("bop") is BopSource
    table = _source(lmo, models_dir="models_eval").frame_table()
    assert len(table) == 200 and table.frame_ids[0] == LMO_FRAME
    assert set(table.split) == {"test"} and set(table.sequence) == {"test-000002"} and table.camera is None


def test_lmo_silhouettes_match_bops_px_count_all(lmo):
    """Each object rendered alone into the real frame's camera covers BOP's px_count_all to 0.5%."""
    frame = _source(lmo, models_dir="models_eval").load_frame(LMO_FRAME)
    info = json.loads((lmo / "test" / "000002" / "scene_gt_info.json").read_text())["3"]
    assert len(frame.mesh.objects) == len(info) == 8
    for obj, entry in zip(frame.mesh.objects, info):
        count = int((object_image(Scene(objects=(obj,)), frame.camera) == 0).sum())
        assert count == pytest.approx(entry["px_count_all"], rel=0.005), obj.name
    # the full-resolution ape of models/ (11,678 triangles) alike
    ape = trimesh.load(lmo / "models" / "obj_000001.ply", process=False)
    pose = json.loads((lmo / "test" / "000002" / "scene_gt.json").read_text())["3"][0]
    R = np.array(pose["cam_R_m2c"]).reshape(3, 3)
    placed = trimesh.Trimesh((np.asarray(ape.vertices) @ R.T + pose["cam_t_m2c"]) / 1000.0, ape.faces, process=False)
    count = int((object_image(Scene(objects=(SceneObject("ape", "object", placed),)), frame.camera) == 0).sum())
    assert len(ape.faces) == 11678 and count == pytest.approx(info[0]["px_count_all"], rel=0.005)


def test_lmo_labels_are_the_first_hit_on_objects_bop_sees_unoccluded(lmo, tmp_path):
    records, manifest = build_records(tmp_path / "out", "bop", lmo, {"models_dir": "models_eval"},
                                      tasks=("distance", "axis_distance", "two_point"), frames=1,
                                      sampling={"points_per_frame": 20, "pairs_per_frame": 4})
    assert manifest["frames"]["skipped"] == {} and len(records) >= 40
    vertices, faces, owner = _placed_models(lmo, "models_eval", lmo / "test" / "000002", 3)
    info = json.loads((lmo / "test" / "000002" / "scene_gt_info.json").read_text())["3"]
    gt = json.loads((lmo / "test" / "000002" / "scene_gt.json").read_text())["3"]
    # BOP sees only 20 %, 51 % and 80 % of ape, hole puncher and glue: hidden by the unmodelled benchvise
    hidden = {g["obj_id"] for g, i in zip(gt, info) if i["visib_fract"] < 0.85}
    assert hidden == {1, 10, 11}
    labelled = set()
    for record in records:
        for (centre, direction, ray), z, r in zip(label_rays(record, np.eye(4)), record["label"]["z_m"],
                                                  record["label"]["range_m"]):
            t, face, _ = first_hit(centre, direction, vertices, faces)
            assert abs(r - t) <= 1e-6 and abs(z - t * ray[2]) <= 1e-6, record["id"]
            labelled.add(int(owner[face]))
    assert labelled and not labelled & hidden


def _cube(path: Path, half_mm: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.creation.box(extents=[2 * half_mm] * 3).export(path)


def _fake_bop(root: Path, masks: bool = True, w2c: bool = True) -> Path:
    """A BOP test scene: two 100 mm cubes in front of a 128x96 camera; the visible-part masks hide the
    right half of the image (as an unmodelled occluder would)."""
    scene = root / "test" / "000001"
    _cube(root / "models" / "obj_000001.ply", 50.0)
    (scene / "rgb").mkdir(parents=True)
    K = [100.0, 0.0, 63.5, 0.0, 100.0, 47.5, 0.0, 0.0, 1.0]
    camera = {"cam_K": K, "depth_scale": 1.0}
    if w2c:
        camera.update(cam_R_w2c=[0, -1, 0, 1, 0, 0, 0, 0, 1], cam_t_w2c=[10.0, 20.0, 30.0])
    gt = [{"obj_id": 1, "cam_R_m2c": [1, 0, 0, 0, 1, 0, 0, 0, 1], "cam_t_m2c": [-60.0, 0.0, 600.0]},
          {"obj_id": 1, "cam_R_m2c": [1, 0, 0, 0, 1, 0, 0, 0, 1], "cam_t_m2c": [60.0, 0.0, 700.0]}]
    for name, content in (("scene_camera", {"0": camera, "1": camera}), ("scene_gt", {"0": gt, "1": gt}),
                          ("scene_gt_info", {"0": [{"px_count_visib": 1}] * 2})):
        (scene / f"{name}.json").write_text(json.dumps(content))
    for image_id in (0, 1):
        Image.fromarray(np.full((96, 128, 3), 90, dtype=np.uint8)).save(scene / "rgb" / f"{image_id:06d}.png")
    if masks:
        (scene / "mask_visib").mkdir()
        visible = np.zeros((96, 128), dtype=np.uint8)
        visible[:, :64] = 255
        for k in range(2):
            Image.fromarray(visible).save(scene / "mask_visib" / f"000000_{k:06d}.png")
            Image.fromarray(visible).save(scene / "mask_visib" / f"000001_{k:06d}.png")
    return root


def test_labels_only_where_mask_visib_shows_the_objects(tmp_path):
    root = _fake_bop(tmp_path / "bop")
    frame = _source(root).load_frame("bop/test-000001/000000")
    assert frame.meta["visibility"] == "mask_visib" and frame.meta["pose_known"]
    records, manifest = build_records(tmp_path / "out", "bop", root, tasks=("distance", "axis_distance"),
                                      sampling={"points_per_frame": 30, "min_depth_m": 0.1})
    assert manifest["frames"]["skipped"] == {} and records
    vertices, faces = (np.asarray(a) for a in _cube_pair())
    for record in records:
        points = np.asarray(record["label"]["points_cam"])
        cols = np.floor(100.0 * points[:, 0] / points[:, 2] + 63.5 + 0.5)
        assert (cols < 64).all(), record["id"]  # the mask's left half, by the pinhole formula
        for (centre, direction, _), r in zip(label_rays(record, np.eye(4)), record["label"]["range_m"]):
            assert abs(first_hit(centre, direction, vertices, faces)[0] - r) <= 1e-6


def _cube_pair():
    parts = [trimesh.creation.box(extents=[0.1] * 3, transform=trimesh.transformations.translation_matrix(t))
             for t in ([-0.06, 0.0, 0.6], [0.06, 0.0, 0.7])]
    merged = trimesh.util.concatenate(parts)
    return merged.vertices, merged.faces


def test_world_pose_from_w2c_and_unknown_without(tmp_path):
    frame = _source(_fake_bop(tmp_path / "a")).load_frame("bop/test-000001/000001")
    R_w2c = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])
    np.testing.assert_allclose(frame.camera.T_world_cam[:3, :3], R_w2c.T, atol=1e-15)
    np.testing.assert_allclose(frame.camera.T_world_cam[:3, 3], -R_w2c.T @ [0.01, 0.02, 0.03], atol=1e-15)
    # the objects sit where scene_gt puts them in the camera frame, whatever the world pose
    first = np.asarray(frame.mesh.objects[0].mesh.vertices)
    cam = (first - frame.camera.T_world_cam[:3, 3]) @ frame.camera.T_world_cam[:3, :3]
    np.testing.assert_allclose(cam.mean(axis=0), [-0.06, 0.0, 0.6], atol=1e-12)
    assert not _source(_fake_bop(tmp_path / "b", w2c=False)).load_frame("bop/test-000001/000001").meta["pose_known"]


def test_gt_info_mode_drops_objects_bop_sees_less_of(tmp_path):
    root = _fake_bop(tmp_path / "bop", masks=False)
    frame = _source(root).load_frame("bop/test-000001/000000")
    assert frame.meta["visibility"] == "gt_info" and not frame.label_mask.any()  # BOP counts 1 px of each
    owner = object_image(frame.mesh, frame.camera)
    counts = [int((owner == k).sum()) for k in range(2)]
    info = tmp_path / "bop" / "test" / "000001" / "scene_gt_info.json"
    info.write_text(json.dumps({"0": [{"px_count_visib": counts[0]}, {"px_count_visib": int(counts[1] * 0.9)}]}))
    frame = _source(root).load_frame("bop/test-000001/000000")
    assert frame.label_mask[owner == 1].sum() == 0
    inner = frame.label_mask & (owner == 0)
    assert 0 < inner.sum() < counts[0] and inner.sum() == frame.label_mask.sum()
    assert _source(root, visibility="none").load_frame("bop/test-000001/000000").label_mask is None


def test_bad_input_names_the_file(tmp_path):
    root = _fake_bop(tmp_path / "bop")
    (root / "models" / "obj_000001.ply").unlink()
    with pytest.raises(SourceError, match="obj_000001.ply: missing"):
        _source(root).load_frame("bop/test-000001/000000")
    _cube(root / "models" / "obj_000001.ply", 50.0)
    gt_path = root / "test" / "000001" / "scene_gt.json"
    gt = json.loads(gt_path.read_text())
    gt["1"][0]["cam_R_m2c"] = [2, 0, 0, 0, 1, 0, 0, 0, 1]
    gt_path.write_text(json.dumps(gt))
    with pytest.raises(SourceError, match="instance 0: cam_R_m2c is not a rotation"):
        _source(root).load_frame("bop/test-000001/000001")
    _, manifest = build_records(tmp_path / "out", "bop", root, tasks=("distance",))
    assert manifest["frames"]["skipped"] == {"source_error": 1}
    gt_path.write_text("{not json")
    with pytest.raises(SourceError, match="scene_gt.json: not valid JSON"):
        _source(root).frame_table()
    with pytest.raises(SourceError, match="not 'bop/<split folder>-<scene>/<image id>'"):
        _source(root).load_frame("bop/000001/000000")
    with pytest.raises(ConfigError, match="visibility"):
        BopSource.Config(root=root, visibility="depth")
    with pytest.raises(ConfigError, match="split_dirs"):
        BopSource.Config(root=root, split_dirs=["models"])
