"""Draw the see-through filter on the real samples and print how much it removes.

Run from the repository root:

    python bench/plot_occlusion.py            # images into docs/img/, share table
    python bench/plot_occlusion.py --tune     # also the synthetic recall / false-removal table (~1.5 min)

Images: ``docs/img/occlusion_<dataset>.png`` (whole image, before above after) and
``docs/img/occlusion_<dataset>_crop.png`` (a zoomed region, before left of after), with the
default filter; ``occlusion_nuscenes_w31*.png`` with the setting for 32-beam LiDARs.
Points are coloured by depth (red 4 m, orange 8, yellow 12, green 18, cyan 30, blue 60 m);
in "after", the points the filter removed are drawn as white dots.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datagen.geometry.projection import OcclusionFilter, project_points, project_points_with_stats  # noqa: E402
from datagen.types import Camera  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "docs" / "img"
#: Depth colour ramp: red at 4 m, orange 8 m, yellow 12 m, green 18 m, cyan 30 m, blue 60 m and beyond.
RAMP_M = np.array([4.0, 8.0, 12.0, 18.0, 30.0, 60.0])
RAMP = np.array([[230, 30, 30], [255, 140, 0], [240, 230, 40], [60, 200, 60], [40, 200, 230], [40, 70, 255]])
REMOVED = (255, 255, 255)


def load_kitti():
    """KITTI object 000000: points (N, 4) velodyne, camera of image_2, T_cam2_velo, image."""
    root = DATA / "kitti_object_kuixu" / "training"
    calib = {}
    for line in (root / "calib" / "000000.txt").read_text().splitlines():
        if ":" in line:
            key, values = line.split(":", 1)
            calib[key] = np.array(values.split(), dtype=np.float64)
    P2 = calib["P2"].reshape(3, 4)
    R0 = np.eye(4)
    R0[:3, :3] = calib["R0_rect"].reshape(3, 3)
    T_cam0_velo = np.eye(4)
    T_cam0_velo[:3] = calib["Tr_velo_to_cam"].reshape(3, 4)
    T_cam2_rect = np.eye(4)
    T_cam2_rect[:3, 3] = np.linalg.solve(P2[:, :3], P2[:, 3])  # P2 = K [I | t]
    image = Image.open(root / "image_2" / "000000.png").convert("RGB")
    camera = Camera(K=P2[:, :3], width=image.width, height=image.height)
    points = np.fromfile(root / "velodyne" / "000000.bin", dtype=np.float32).reshape(-1, 4)
    return points, camera, T_cam2_rect @ R0 @ T_cam0_velo, image


def load_nuscenes(name: str = "CAM_FRONT"):
    """nuScenes demo sample: LIDAR_TOP points (N, 5), camera ``name``, lidar2cam, image."""
    root = DATA / "nuscenes_mmdet3d_demo" / "nuscenes"
    sample = json.loads((root / "calib_derived_from_pkl.json").read_text())["sample"]
    info = sample["images"][name]
    image = Image.open(root / info["img_path"]).convert("RGB")
    camera = Camera(K=np.array(info["cam2img"])[:3, :3], width=image.width, height=image.height)
    points = np.fromfile(root / sample["lidar_points"]["lidar_path"], dtype=np.float32).reshape(-1, 5)
    return points, camera, np.array(info["lidar2cam"]), image


DATASETS = {"kitti": load_kitti, "nuscenes": load_nuscenes}
#: The setting docs/occlusion_filter.md recommends for 32-beam LiDARs such as nuScenes'.
SPARSE_LIDAR = OcclusionFilter(window_px=31, max_depth_ratio=1.15)
#: Zoomed regions (left, top, right, bottom) and zoom: KITTI around the labelled pedestrian
#: (label_2 box u 712-811, v 143-308), nuScenes the top of the truck on the left.
CROPS = {"kitti": ((650, 130, 880, 320), 3), "nuscenes": ((100, 200, 560, 420), 2)}


def depth_colours(z_m: np.ndarray) -> np.ndarray:
    """(N,) metres -> (N, 3) uint8 colours on the near-to-far ramp."""
    return np.stack([np.interp(z_m, RAMP_M, RAMP[:, c]) for c in range(3)], axis=1).astype(np.uint8)


def split_views(points, camera, T, occlusion):
    """Views before and after the filter, and a mask of the 'before' labels it removed."""
    before, _ = project_points_with_stats(points, camera, T, occlusion=None)
    after, stats = project_points_with_stats(points, camera, T, occlusion=occlusion)
    kept_pixels = {tuple(p) for p in after.pixel_indices().tolist()}
    removed = np.array([tuple(p) not in kept_pixels for p in before.pixel_indices().tolist()], dtype=bool)
    return before, after, removed, stats


def draw(image: Image.Image, view, removed: np.ndarray | None, radius: float, title: str) -> Image.Image:
    """Copy of ``image`` with the view's points drawn, the removed ones on top in white."""
    canvas = Image.blend(image, Image.new("RGB", image.size), 0.35)
    pen = ImageDraw.Draw(canvas)
    removed = np.zeros(len(view), dtype=bool) if removed is None else removed
    colours = depth_colours(view.z_m)
    for i in np.argsort(-view.z_m):  # far first, so near points stay on top
        if not removed[i]:
            u, v = view.pixels[i]
            pen.ellipse([u - radius, v - radius, u + radius, v + radius], fill=tuple(colours[i]))
    for u, v in view.pixels[removed]:
        pen.ellipse([u - radius - 1, v - radius - 1, u + radius + 1, v + radius + 1], fill=REMOVED, outline=(0, 0, 0))
    pen.rectangle([0, 0, 6 * len(title) + 12, 18], fill=(0, 0, 0))
    pen.text((6, 4), title, fill=(255, 255, 255))
    return canvas


def save(image: Image.Image, path: Path, max_width: int | None = None) -> None:
    """PNG at most ``max_width`` wide with a 256-colour palette, to keep the docs small."""
    if max_width and image.width > max_width:
        image = image.resize((max_width, round(image.height * max_width / image.width)), Image.LANCZOS)
    image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def plot(name: str, occlusion: OcclusionFilter, tag: str, radius: float) -> float:
    """Write ``occlusion_<tag>.png`` and ``occlusion_<tag>_crop.png``; return the share removed."""
    points, camera, T, image = DATASETS[name]()
    before, after, removed, stats = split_views(points, camera, T, occlusion)
    share = stats.occluded / (stats.occluded + stats.kept)
    setting = f"window_px={occlusion.window_px}, max_depth_ratio={occlusion.max_depth_ratio}"
    label = f"{stats.occluded} of {len(before)} removed ({100 * share:.1f}%)"
    panels = [draw(image, before, None, radius, f"{name}: before the filter, {len(before)} points"),
              draw(image, before, removed, radius, f"after ({setting}): {label}, white")]
    sheet = Image.new("RGB", (image.width, 2 * image.height + 6), (255, 255, 255))
    for k, panel in enumerate(panels):
        sheet.paste(panel, (0, k * (image.height + 6)))
    save(sheet, OUT / f"occlusion_{tag}.png", max_width=1000 if image.width > 1300 else None)
    box, zoom = CROPS[name]
    size = (zoom * (box[2] - box[0]), zoom * (box[3] - box[1]))
    crops = [panel.crop(box).resize(size, Image.NEAREST) for panel in panels]
    crop = Image.new("RGB", (2 * size[0] + 6, size[1]), (255, 255, 255))
    for k, panel in enumerate(crops):
        crop.paste(panel, (k * (size[0] + 6), 0))
    save(crop, OUT / f"occlusion_{tag}_crop.png")
    print(f"{tag}: {setting}: {label}")
    return share


def share_table(windows=(5, 7, 9, 11, 15, 21, 31), ratios=(1.05, 1.1, 1.15, 1.2, 1.3, 1.5)) -> None:
    """Print the share of in-image points removed per (window, ratio) on both samples."""
    for name, loader in DATASETS.items():
        points, camera, T, _ = loader()
        print(f"\n{name}: % of in-image points removed; rows window_px, columns max_depth_ratio")
        print("  w  " + " ".join(f"{r:6.2f}" for r in ratios))
        for w in windows:
            cells = []
            for r in ratios:
                _, s = project_points_with_stats(points, camera, T, occlusion=OcclusionFilter(w, r))
                cells.append(f"{100 * s.occluded / (s.occluded + s.kept):6.1f}")
            print(f"{w:4d} " + " ".join(cells))


# ----------------------------------------------------------------------------- synthetic truth
# A ray-cast street (ground, cars, pedestrians, poles, building fronts) scanned by a LiDAR
# placed as in each dataset; a point is truly see-through when the camera's ray to it hits
# something more than 5 cm + 0.5% nearer. Recall = share of the truly see-through labels
# (after the z-buffer) that the filter removes; false removal = share of the visible ones
# it removes, on the street and on the street without objects (continuous surfaces only).

#: elevation angles (deg), azimuth step (deg), LiDAR origin in the camera frame (m), camera.
SENSORS = {
    "kitti (HDL-64E)": (np.linspace(2.0, -24.8, 64), 0.09, [0.04, -0.06, -0.33],
                        Camera.from_intrinsics(707.0, 707.0, 604.0, 180.5, 1224, 370)),
    "nuscenes (HDL-32E)": (np.linspace(10.0, -30.0, 32), 0.33, [0.0, -0.33, -0.43],
                           Camera.from_intrinsics(1266.0, 1266.0, 816.0, 491.0, 1600, 900)),
}


def street(rng: np.random.Generator, n_objects: int, camera_height_m: float = 1.65):
    """Open3D ray-casting scene in the camera frame (ground at y = camera height)."""
    import open3d as o3d  # noqa: PLC0415
    import trimesh  # noqa: PLC0415

    def box(centre, size):
        return trimesh.creation.box(extents=size).apply_translation(centre)

    meshes = [box([0, camera_height_m + 0.5, 50], [400, 1.0, 200])]
    for _ in range(n_objects):
        size = [[1.8, 1.5, 4.2], [0.6, 1.75, 0.6], [0.25, 4.0, 0.25]][rng.choice(3, p=[0.5, 0.3, 0.2])]
        z = rng.uniform(5, 35)
        meshes.append(box([rng.uniform(-0.5, 0.5) * z, camera_height_m - size[1] / 2, z], size))
    for x0 in np.arange(-40, 40, 8):
        depth, height = rng.uniform(40, 60), rng.uniform(4, 15)
        meshes.append(box([x0 + 4, camera_height_m - height / 2, depth], [8, height, 1]))
    mesh = trimesh.util.concatenate(meshes)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(mesh.vertices.astype(np.float32)),
                        o3d.core.Tensor(mesh.faces.astype(np.uint32)))
    return scene


def cast(scene, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    import open3d as o3d  # noqa: PLC0415

    rays = np.concatenate([origins, dirs], axis=1).astype(np.float32)
    return scene.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy().astype(np.float64)


def scan(scene, sensor, rng: np.random.Generator):
    """LiDAR points (N, 3) in the camera frame and whether each is hidden from the camera."""
    elevation, step_deg, origin, _ = sensor
    A, E = np.meshgrid(np.deg2rad(np.arange(-60, 60, step_deg)), np.deg2rad(elevation))
    dirs = np.stack([np.cos(E) * np.sin(A), -np.sin(E), np.cos(E) * np.cos(A)], -1).reshape(-1, 3)
    origins = np.broadcast_to(np.asarray(origin, dtype=np.float64), dirs.shape)
    t = cast(scene, origins, dirs)
    hit = np.isfinite(t) & (t < 100.0)
    points = origins[hit] + dirs[hit] * (t[hit] + rng.normal(0.0, 0.02, hit.sum()))[:, None]
    distance = np.linalg.norm(points, axis=1)
    t_camera = cast(scene, np.zeros_like(points), points / distance[:, None])
    return points, t_camera < distance - (0.05 + 0.005 * distance)


def removed_mask(points: np.ndarray, camera: Camera, flt: OcclusionFilter) -> tuple[np.ndarray, np.ndarray]:
    """Per input point: kept by the z-buffer, and removed by the filter (matched by pixel)."""
    before = project_points(points, camera, occlusion=None)
    after = project_points(points, camera, occlusion=flt)
    index = {tuple(p): i for i, p in enumerate(points.tolist())}
    survivors = np.array([index[tuple(p)] for p in before.points_cam.tolist()], dtype=np.int64)
    kept_pixels = {tuple(p) for p in after.pixel_indices().tolist()}
    removed = np.array([tuple(p) not in kept_pixels for p in before.pixel_indices().tolist()], dtype=bool)
    return survivors, removed


def synthetic_table(windows=(5, 7, 9, 11, 15, 21, 31), ratios=(1.1, 1.15, 1.2, 1.3), seeds=range(4)) -> None:
    """Print recall and false-removal rates per (window, ratio) for each sensor layout."""
    for name, sensor in SENSORS.items():
        totals = {}
        for n_objects in (14, 0):
            for seed in seeds:
                rng = np.random.default_rng(seed)
                points, hidden = scan(street(rng, n_objects), sensor, rng)
                for w in windows:
                    for r in ratios:
                        survivors, removed = removed_mask(points, sensor[3], OcclusionFilter(w, r))
                        truth = hidden[survivors]
                        t = totals.setdefault((n_objects, w, r), np.zeros(4))
                        t += [truth.sum(), (removed & truth).sum(), (~truth).sum(), (removed & ~truth).sum()]
        t = totals[(14, windows[0], ratios[0])]
        print(f"\nsynthetic {name}: {100 * t[0] / (t[0] + t[2]):.1f}% of the z-buffer's labels are see-through")
        print("   w  ratio  recall%  false-removal%  false-removal% (no objects)")
        for w in windows:
            for r in ratios:
                a, b = totals[(14, w, r)], totals[(0, w, r)]
                print(f"{w:4d} {r:6.2f} {100 * a[1] / a[0]:8.1f} {100 * a[3] / a[2]:15.2f} {100 * b[3] / b[2]:15.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tune", action="store_true", help="also print the synthetic recall table")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    default = OcclusionFilter()
    print(f"default filter: window_px={default.window_px}, max_depth_ratio={default.max_depth_ratio}")
    plot("kitti", default, "kitti", 1.0)
    plot("nuscenes", default, "nuscenes", 2.5)
    plot("nuscenes", SPARSE_LIDAR, "nuscenes_w31", 2.5)
    share_table()
    if args.tune:
        synthetic_table()


if __name__ == "__main__":
    main()
