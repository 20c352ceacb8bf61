"""The mesh source: any mesh with cameras from COLMAP, nerfstudio or a plain list, labelled by ray casting."""

from __future__ import annotations

import json

import numpy as np
import pytest

from datagen.errors import ConfigError, SourceError
from datagen.pipeline import mesh_view
from datagen.sources import REGISTRY
from datagen.sources.mesh import MeshSource
from tests.sources.depth_checks import radtan
from tests.sources.label_checks import build_records
from tests.sources.mesh_files import (
    EXACT_QUATERNIONS_WXYZ,
    exact_pose,
    first_hit,
    label_rays,
    merge,
    room,
    write_colmap,
    write_image,
    write_mesh,
    write_nerfstudio,
    write_plain_list,
)

WIDTH, HEIGHT, FOCAL = 96, 72, 60.0
COEFFS = {"fisheye": [0.05, -0.02, 0.004, -0.0005], "radtan": [-0.12, 0.03, 0.001, -0.0005, 0.0]}
CENTRES = [(0.0, 0.0, 0.0), (0.5, 0.25, -0.5), (-1.0, 0.5, 0.75), (0.25, -1.5, 1.0), (1.5, 1.0, -1.25)]
#: ns-process-data's world re-orientation (nerfstudio/process_data/colmap_utils.py), as a 4x4.
NS_APPLIED = np.array([[1.0, 0, 0, 0], [0, 0, 1.0, 0], [0, -1.0, 0, 0], [0, 0, 0, 1.0]])
OPTIONS = ("colmap_text", "colmap_binary", "nerfstudio", "list")


def cameras(model: str) -> list:
    """Five cameras inside the room: the first two share a rotation (a pose pair), all stored exactly."""
    quaternions = [EXACT_QUATERNIONS_WXYZ[0]] + EXACT_QUATERNIONS_WXYZ[:4]
    return [(f"{k:04d}.png", model, WIDTH, HEIGHT, [FOCAL, FOCAL, 47.5, 35.25], COEFFS[model],
             exact_pose(q, c)) for k, (q, c) in enumerate(zip(quaternions, CENTRES))]


def write_scene(root, model: str = "fisheye", mesh_name: str = "room.ply", **room_args):
    vertices, faces = room(**room_args)
    write_mesh(root / mesh_name, vertices, faces)
    for k, camera in enumerate(cameras(model)):
        write_image(root / "images" / camera[0], WIDTH, HEIGHT, seed=k)
    return vertices, faces


def write_cameras(root, fmt: str, model: str = "fisheye") -> dict:
    """Write the cameras in one format under ``root``; the source options that read them."""
    cams = cameras(model)
    if fmt.startswith("colmap"):
        write_colmap(root / "sparse" / "0", cams, binary=fmt == "colmap_binary")
        return {"cameras": "sparse/0"}
    if fmt == "nerfstudio":
        write_nerfstudio(root / "transforms.json", cams, applied_transform=NS_APPLIED)
        return {"cameras": "transforms.json"}
    write_plain_list(root / "cameras.json", cams)
    return {"cameras": "cameras.json"}


def build(out, root, options, tasks=("distance", "axis_distance", "two_point")):
    return build_records(out, "mesh", root, options, tasks=tasks, normalize={"target_focal_px": FOCAL},
                         sampling={"points_per_frame": 6, "pairs_per_frame": 2, "avoid_edges": False})


def check_labels_are_first_hits(records, vertices, faces, poses: dict, culled: bool = False) -> int:
    """Every label's z and range equal the nearest triangle hit along its pixel's ray (1e-6 m)."""
    checked = 0
    for record in records:
        T = poses[record["provenance"]["frames"][0]]
        label = record["label"]
        for (centre, direction, ray), z, r in zip(label_rays(record, T), label["z_m"], label["range_m"]):
            t, _, normal = first_hit(centre, direction, vertices, faces)
            assert abs(r - t) <= 1e-6 and abs(z - t * ray[2]) <= 1e-6, (record["id"], r, t)
            if culled:
                assert normal @ direction < 0, f"{record['id']}: a label on a face seen from behind"
            checked += 1
    return checked


def poses_by_id(sequence: str = "room", model: str = "fisheye") -> dict:
    return {f"mesh/{sequence}/{k:06d}": c[-1] for k, c in enumerate(cameras(model))}


def test_registered_and_lists_one_frame_per_image(tmp_path):
    write_scene(tmp_path)
    write_cameras(tmp_path, "colmap_text")
    assert REGISTRY.load_builtins().get("mesh") is MeshSource
    table = MeshSource(MeshSource.Config(root=tmp_path)).frame_table()
    assert table.frame_ids.tolist() == [f"mesh/room/{k:06d}" for k in range(5)]
    assert set(table.sequence) == {"room"} and table.split is None
    assert table.camera.tolist() == [f"colmap{k}" for k in range(1, 6)]
    source = MeshSource(MeshSource.Config(root=tmp_path, sequence="lab", split="val"))
    assert source.frame_table().split.tolist() == ["val"] * 5
    frame = source.load_frame("mesh/lab/000002")
    assert frame.image_path == tmp_path / "images" / "0002.png" and frame.split == "val"
    np.testing.assert_array_equal(frame.camera.T_world_cam, cameras("fisheye")[2][-1])


@pytest.mark.parametrize("model", ["fisheye", "radtan"])
def test_the_same_cameras_in_every_format_give_byte_identical_records(tmp_path, model):
    vertices, faces = write_scene(tmp_path / "scene", model)
    outputs = []
    for fmt in OPTIONS:
        options = write_cameras(tmp_path / "scene", fmt, model)
        records, manifest = build(tmp_path / fmt, tmp_path / "scene", options)
        assert manifest["frames"]["skipped"] == {} and manifest["frames"]["planned"] == 5, fmt
        outputs.append(sorted((p.name, p.read_bytes()) for p in (tmp_path / fmt / "records").glob("*.jsonl")))
    assert all(o == outputs[0] for o in outputs[1:])
    assert check_labels_are_first_hits(records, vertices, faces, poses_by_id(model=model)) >= 5 * 6
    if model == "fisheye":
        assert all(r["provenance"]["transforms"][0][0] == "undistort" for r in records)


def test_rays_through_a_hole_meet_the_next_shell_from_behind_and_give_no_label(tmp_path):
    inner = room(3.0, cells=4, holes={5: [(1, 1), (1, 2), (2, 1), (2, 2)]})  # the +z wall, its middle open
    outer = room(5.0, cells=2, inward=False)  # a shell facing away from the camera, as a scan's far side does
    vertices, faces = merge([inner, outer])
    write_mesh(tmp_path / "scan.ply", vertices, faces)
    write_image(tmp_path / "images" / "a.png", WIDTH, HEIGHT, 0)
    camera = ("a.png", "pinhole", WIDTH, HEIGHT, [FOCAL, FOCAL, 47.5, 35.5], [], np.eye(4))
    write_plain_list(tmp_path / "cameras.json", [camera])
    views = {}
    for cull in (False, True):
        source = MeshSource(MeshSource.Config(root=tmp_path, cull_back_faces=cull))
        frame = source.load_frame("mesh/scan/000000")
        views[cull] = mesh_view(frame.mesh, frame.camera)
    through_hole = views[False].z_m > 4.0
    assert through_hole.sum() > 400 and np.all(views[False].z_m[through_hole] == pytest.approx(5.0, abs=1e-9))
    assert len(views[True]) == len(views[False]) - through_hole.sum()
    assert np.all(views[True].z_m == pytest.approx(3.0, abs=1e-9))


def test_every_label_is_the_first_triangle_hit(tmp_path):
    vertices, faces = write_scene(tmp_path, "radtan")
    options = write_cameras(tmp_path, "list", "radtan")
    records, _ = build(tmp_path / "out", tmp_path, {**options, "cull_back_faces": True})
    assert check_labels_are_first_hits(records, vertices, faces, poses_by_id(model="radtan"), culled=True) >= 60


def test_pose_task_translation_is_the_camera_files(tmp_path):
    write_scene(tmp_path)
    options = write_cameras(tmp_path, "nerfstudio")
    records, _ = build(tmp_path / "out", tmp_path, options, tasks=("distance", "pose"))
    poses = [r for r in records if r["task"] == "pose"]
    assert poses, "the two cameras that share a rotation make a pair"
    by_id = poses_by_id()
    for record in poses:
        first, second = (by_id[f] for f in record["provenance"]["frames"])
        T_cam0_cam1 = np.linalg.inv(first) @ second
        np.testing.assert_allclose(record["label"]["T_cam0_cam1"], T_cam0_cam1, atol=1e-12)
        assert record["value"] == pytest.approx(np.linalg.norm(T_cam0_cam1[:3, 3]), rel=1e-12)


@pytest.mark.parametrize("suffix", [".obj", ".glb"])
def test_obj_and_glb_meshes_and_units_give_the_same_labels(tmp_path, suffix):
    vertices, faces = room()
    write_mesh(tmp_path / "m" / "room.ply", vertices, faces)
    write_mesh(tmp_path / "mm" / f"room{suffix}", vertices * 1000.0, faces)
    cams = cameras("radtan")
    mm_cams = [(*c[:6], np.vstack([np.column_stack([c[6][:3, :3], c[6][:3, 3] * 1000.0]), [0, 0, 0, 1]]))
               for c in cams]
    write_plain_list(tmp_path / "m" / "cameras.json", cams)
    write_plain_list(tmp_path / "mm" / "cameras.json", mm_cams)
    views = []
    for folder, scale in (("m", 1.0), ("mm", 0.001)):
        source = MeshSource(MeshSource.Config(root=tmp_path / folder, metres_per_unit=scale))
        frame = source.load_frame("mesh/room/000003")
        views.append(mesh_view(frame.mesh, frame.camera, stride_px=4))
    np.testing.assert_array_equal(views[0].pixels, views[1].pixels)
    np.testing.assert_allclose(views[0].z_m, views[1].z_m, atol=1e-9)


def test_nerfstudio_masks_keep_labels_on_white_pixels(tmp_path):
    from PIL import Image

    write_scene(tmp_path, "radtan")
    write_cameras(tmp_path, "nerfstudio", "radtan")
    meta = json.loads((tmp_path / "transforms.json").read_text())
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    mask[:, : WIDTH // 2] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    meta["frames"][0]["mask_path"] = "mask.png"
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    frame = MeshSource(MeshSource.Config(root=tmp_path)).load_frame("mesh/room/000000")
    np.testing.assert_array_equal(frame.label_mask, mask > 127)
    records, manifest = build(tmp_path / "out", tmp_path, {})
    mine = [r for r in records if r["provenance"]["frames"][0] == "mesh/room/000000"]
    assert mine and manifest["frames"]["skipped"] == {}
    for record in mine:  # each label's point, through the frame's own lens (OpenCV's model written out), is white
        points = np.asarray(record["label"]["points_cam"])
        uv = radtan(points[:, :2] / points[:, 2:], COEFFS["radtan"]) * FOCAL + [47.5, 35.25]
        cols, rows = np.floor(uv + 0.5).astype(int).T
        assert mask[rows, cols].all(), record["id"]


def test_bad_input_names_the_file(tmp_path):
    write_scene(tmp_path)
    write_cameras(tmp_path, "nerfstudio")
    source = MeshSource(MeshSource.Config(root=tmp_path, mesh="missing.ply"))
    with pytest.raises(SourceError, match="missing.ply: missing"):
        source.load_frame("mesh/missing/000000")
    (tmp_path / "broken.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 3\n")
    with pytest.raises(SourceError, match="broken.ply: not a readable triangle mesh"):
        MeshSource(MeshSource.Config(root=tmp_path, mesh="broken.ply")).load_frame("mesh/broken/000000")
    with pytest.raises(SourceError, match="2 mesh files"):
        MeshSource(MeshSource.Config(root=tmp_path)).frame_table()
    meta = json.loads((tmp_path / "transforms.json").read_text())
    del meta["frames"][1]["fl_x"]
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    with pytest.raises(SourceError, match=r"transforms.json: frame 1: 'fl_x' must be a number"):
        MeshSource(MeshSource.Config(root=tmp_path, mesh="room.ply")).frame_table()
    write_colmap(tmp_path / "sparse" / "0", cameras("fisheye"), binary=True)
    data = (tmp_path / "sparse" / "0" / "images.bin").read_bytes()
    (tmp_path / "sparse" / "0" / "images.bin").write_bytes(data[:-30])
    with pytest.raises(SourceError, match="images.bin: ends early"):
        MeshSource(MeshSource.Config(root=tmp_path, mesh="room.ply", cameras="sparse/0")).frame_table()
    with pytest.raises(ConfigError, match="camera_format"):
        MeshSource.Config(root=tmp_path, camera_format="blender")


def test_a_frame_with_a_bad_mask_is_skipped_and_counted(tmp_path):
    write_scene(tmp_path, "radtan")
    cams = cameras("radtan")
    write_plain_list(tmp_path / "cameras.json", cams)
    entries = json.loads((tmp_path / "cameras.json").read_text())
    entries[2]["mask"] = "masks/none.png"
    (tmp_path / "cameras.json").write_text(json.dumps(entries))
    _, manifest = build(tmp_path / "out", tmp_path, {})
    assert manifest["frames"]["skipped"] == {"source_error": 1}
    assert manifest["frames"]["skipped_ids"]["source_error"] == ["mesh/room/000002"]
    with pytest.raises(SourceError, match="not 'mesh/room/<index below 5>'"):
        MeshSource(MeshSource.Config(root=tmp_path)).load_frame("mesh/room/000009")
