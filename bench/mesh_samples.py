"""Faithful fakes for the mesh sources' docs pages: a synthetic room written as ScanNet++ and as a mesh folder.

``python bench/mesh_samples.py OUT`` renders a room of the bundled recipes (``scenes/room.yaml``,
scene 0) through a fisheye DSLR like ScanNet++'s (OPENCV_FISHEYE) and through a radial-tangential
camera, and writes:

* ``OUT/scannetpp/data/0a5c013435/``: ``scans/mesh_aligned_0.05.ply``, ``dslr/colmap/{cameras,
  images}.txt`` and ``dslr/resized_images/DSC0000<k>.JPG``, as ScanNet++ lays them out;
* ``OUT/mesh/``: ``room.glb``, a nerfstudio ``transforms.json`` and ``images/``.

The images are rendered with each camera's own lens, so an overlay shows whether the labels,
ray-cast through the normalised (undistorted) camera, land on the rendered edges.
``python bench/indoor_samples.py --blend OVERLAY IMAGE OUT`` blends an overlay over its image.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image
from scipy.spatial.transform import Rotation

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from datagen.render.base import get_renderer  # noqa: E402
from datagen.sources.synthetic import SyntheticSource  # noqa: E402
from datagen.types import Camera  # noqa: E402

SCENE_ID = "0a5c013435"
#: ScanNet++'s DSLR (1752x1168 px, OPENCV_FISHEYE) at half size; the coefficients are made up.
FISHEYE = dict(fx=395.0, fy=395.0, cx=437.5, cy=291.5, width=876, height=584, model="fisheye",
               dist=[-0.035, 0.006, -0.0012, 0.0001])
RADTAN = dict(fx=420.0, fy=420.0, cx=319.5, cy=239.5, width=640, height=480, model="radtan",
              dist=[-0.18, 0.04, 0.0008, -0.0004, 0.0])
FRAMES = (0, 3, 5)


def room_scene():
    built = SyntheticSource().scene("room", 0)
    vertices, faces, _ = built.scene.merged()
    return built, trimesh.Trimesh(vertices, faces, process=False)


def render(built, lens: dict, frame: int) -> tuple[Camera, np.ndarray]:
    camera = Camera.from_intrinsics(lens["fx"], lens["fy"], lens["cx"], lens["cy"], lens["width"], lens["height"],
                                    model=lens["model"], dist=lens["dist"],
                                    T_world_cam=built.cameras[frame].T_world_cam)
    return camera, get_renderer("raycast").render(built.scene, camera).color


def write_scannetpp(out: Path, built, mesh: trimesh.Trimesh) -> None:
    scene = out / "scannetpp" / "data" / SCENE_ID
    (scene / "scans").mkdir(parents=True)
    mesh.export(scene / "scans" / "mesh_aligned_0.05.ply")
    (scene / "dslr" / "colmap").mkdir(parents=True)
    (scene / "dslr" / "resized_images").mkdir()
    f = FISHEYE
    params = [f["fx"], f["fy"], f["cx"] + 0.5, f["cy"] + 0.5, *f["dist"]]  # COLMAP: pixel corner at (0, 0)
    (scene / "dslr" / "colmap" / "cameras.txt").write_text(
        f"1 OPENCV_FISHEYE {f['width']} {f['height']} " + " ".join(repr(p) for p in params) + "\n")
    lines = []
    for k, frame in enumerate(FRAMES, 1):
        camera, color = render(built, FISHEYE, frame)
        Image.fromarray(color).save(scene / "dslr" / "resized_images" / f"DSC{k:05d}.JPG", quality=92)
        R_cam_world = camera.T_world_cam[:3, :3].T
        qx, qy, qz, qw = Rotation.from_matrix(R_cam_world).as_quat().tolist()
        t = (-R_cam_world @ camera.T_world_cam[:3, 3]).tolist()
        lines += [f"{k} {qw!r} {qx!r} {qy!r} {qz!r} {t[0]!r} {t[1]!r} {t[2]!r} 1 DSC{k:05d}.JPG", ""]
    (scene / "dslr" / "colmap" / "images.txt").write_text("\n".join(lines) + "\n")
    (out / "scannetpp" / "splits").mkdir()
    (out / "scannetpp" / "splits" / "nvs_sem_train.txt").write_text(SCENE_ID + "\n")


def write_mesh_folder(out: Path, built, mesh: trimesh.Trimesh) -> None:
    folder = out / "mesh"
    (folder / "images").mkdir(parents=True)
    mesh.export(folder / "room.glb")
    r = RADTAN
    frames = []
    for k, frame in enumerate(FRAMES):
        camera, color = render(built, RADTAN, frame)
        Image.fromarray(color).save(folder / "images" / f"{k:04d}.jpg", quality=92)
        opengl = camera.T_world_cam @ np.diag([1.0, -1.0, -1.0, 1.0])  # OpenCV -> OpenGL camera axes
        frames.append({"file_path": f"images/{k:04d}.jpg", "transform_matrix": opengl.tolist()})
    meta = {"camera_model": "OPENCV", "fl_x": r["fx"], "fl_y": r["fy"], "cx": r["cx"] + 0.5, "cy": r["cy"] + 0.5,
            "w": r["width"], "h": r["height"], **dict(zip(("k1", "k2", "p1", "p2", "k3"), r["dist"])),
            "frames": frames}
    (folder / "transforms.json").write_text(json.dumps(meta, indent=1))


def main() -> None:
    out = Path(sys.argv[1])
    built, mesh = room_scene()
    write_scannetpp(out, built, mesh)
    write_mesh_folder(out, built, mesh)
    print(f"--source scannetpp --root {out / 'scannetpp'}\n--source mesh --root {out / 'mesh'}")


if __name__ == "__main__":
    main()
