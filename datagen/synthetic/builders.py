"""Recipes to concrete scenes: room, street and tabletop layouts, object placement, camera paths.

``build_scene(recipe, index)`` reads top to bottom: seed the streams, lay out the family's
structure and camera path, place the recipe's objects clear of the path, light the scene,
draw the cameras, check that no camera (nor its LiDAR) is inside an object.

Every random choice comes from ``np.random.default_rng([recipe.seed, extra_seed, index,
stream])``: one stream per concern, so a scene never depends on the order in which scenes
or frames are built, and changing one concern (say the camera rig) leaves the others alone.
World frame: metres, z up.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import trimesh

from datagen.errors import ConfigError
from datagen.render.scene import Light, Material, Scene, SceneObject
from datagen.synthetic import placement, shapes
from datagen.synthetic.placement import Occupancy, Site, Strip, WallSegment
from datagen.synthetic.recipe import CameraRig, MaterialSpec, Recipe
from datagen.synthetic.rigs import CameraPath, draw_intrinsics, lidar_mount, orbit_path, scaled, straight_path

logger = logging.getLogger(__name__)

#: Random streams of a scene (the last entry of its seed).
LAYOUT, PATH, OBJECTS, LIGHTING, CAMERAS, LIDAR = range(6)
#: Gap kept between placed objects, metres, per family.
_GAPS = {"room": 0.15, "street": 0.6, "tabletop": 0.03}
#: A camera or LiDAR centre must be at least this far outside every object's bounding box, metres.
CAMERA_MARGIN_M = 0.1
_WALL_M = 0.1
_STREET_BEHIND_M = 40.0


def stream(recipe: Recipe, extra_seed: int, index: int, kind: int, *more: int) -> np.random.Generator:
    """The generator of one concern of one scene (``more``: e.g. a frame number)."""
    return np.random.default_rng([recipe.seed, extra_seed, index, kind, *more])


@dataclass(frozen=True, eq=False)
class Layout:
    """A family's structure: fixed objects, the camera path, the placement sites and keep-out boxes."""

    objects: list
    path: CameraPath
    sites: dict
    occupancy: Occupancy
    materials: "MaterialDraws"


@dataclass(frozen=True, eq=False)
class SyntheticScene:
    """One concrete scene of a recipe with its camera sequence.

    Attributes:
        recipe: the recipe.
        index: scene index within the recipe.
        seed: (recipe seed, extra seed, index): the seed of every stream.
        scene: the renderable scene, world frame (z up), metres.
        path: the camera path (poses and timestamps).
        cameras: one Camera per frame, with T_world_cam (OpenCV axes).
        T_cam_lidar: (4, 4) the LiDAR mount, LiDAR frame (x forward, y left, z up) to camera frame.
    """

    recipe: Recipe
    index: int
    seed: tuple
    scene: Scene
    path: CameraPath
    cameras: tuple
    T_cam_lidar: np.ndarray


@dataclass(frozen=True, eq=False)
class MaterialDraws:
    """Draws materials by name from the scene's material stream (``OBJECTS``, 1), in call order.

    ``pick`` chooses one of the names, then draws that material (colour, pattern, scale).
    """

    specs: dict
    rng: np.random.Generator

    def pick(self, names: tuple[str, ...]) -> Material:
        return draw_material(self.specs[names[int(self.rng.integers(len(names)))]], self.rng)


def draw_material(spec: MaterialSpec, rng: np.random.Generator) -> Material:
    """A concrete Material from a spec: colours, pattern and scale chosen, colour jittered."""
    color = np.asarray(spec.color[int(rng.integers(len(spec.color)))], dtype=np.float64)
    if spec.color_jitter > 0:
        color = np.clip(color + rng.uniform(-spec.color_jitter, spec.color_jitter, 3), 0.0, 1.0)
    pattern = spec.pattern[int(rng.integers(len(spec.pattern)))]
    second = spec.pattern_color[int(rng.integers(len(spec.pattern_color)))]
    return Material(color_rgb=tuple(color), pattern=pattern, pattern_rgb=tuple(second),
                    scale_m=spec.scale_m.draw(rng), seed=int(rng.integers(2**31)))


def _slab(name: str, kind: str, extents, centre, material: Material) -> SceneObject:
    mesh = shapes.box(*extents, x=centre[0], y=centre[1], z0=centre[2] - extents[2] / 2.0)
    return SceneObject(name=name, kind=kind, mesh=mesh, material=material)


def _walls(length: float, width: float, height: float, material: Material) -> list:
    """Four wall slabs around the box |x| <= length / 2, |y| <= width / 2, floor at z = 0."""
    t, zc = _WALL_M, height / 2.0
    return [_slab("wall_x+", "wall", (t, width + 2 * t, height), (length / 2 + t / 2, 0.0, zc), material),
            _slab("wall_x-", "wall", (t, width + 2 * t, height), (-length / 2 - t / 2, 0.0, zc), material),
            _slab("wall_y+", "wall", (length, t, height), (0.0, width / 2 + t / 2, zc), material),
            _slab("wall_y-", "wall", (length, t, height), (0.0, -width / 2 - t / 2, zc), material)]


def _wall_segments(length: float, width: float) -> tuple:
    hl, hw = length / 2.0, width / 2.0
    return (WallSegment((-hl, -hw), (hl, -hw), (0.0, 1.0)), WallSegment((hl, hw), (-hl, hw), (0.0, -1.0)),
            WallSegment((-hl, hw), (-hl, -hw), (1.0, 0.0)), WallSegment((hl, -hw), (hl, hw), (-1.0, 0.0)))


def _keep_out(xy_min, xy_max) -> np.ndarray:
    return np.array([[xy_min[0], xy_min[1], -1e3], [xy_max[0], xy_max[1], 1e3]])


# --- room --------------------------------------------------------------------------------------

def _room_shell(length: float, width: float, height: float, floor: Material, ceiling: Material,
                walls: Material) -> list[SceneObject]:
    """Floor, ceiling and four walls of a closed room centred on the origin, floor at z = 0."""
    t = _WALL_M
    size = (length + 2 * t, width + 2 * t, t)
    return [_slab("floor", "floor", size, (0, 0, -t / 2), floor),
            _slab("ceiling", "ceiling", size, (0, 0, height + t / 2), ceiling),
            *_walls(length, width, height, walls)]


def room_layout(recipe: Recipe, rng: np.random.Generator, path_rng: np.random.Generator,
                materials: MaterialDraws) -> Layout:
    """A closed room centred on the origin (floor z = 0) and a straight walk along x."""
    spec = recipe.layout
    length, width, height = spec.length_m.draw(rng), spec.width_m.draw(rng), spec.height_m.draw(rng)
    floor, ceiling = materials.pick(spec.floor), materials.pick(spec.ceiling)
    objects = _room_shell(length, width, height, floor, ceiling, materials.pick(spec.walls))
    path, corridor = walk(recipe, length, width, path_rng)
    sites = {"floor": Site(strips=(Strip((-length / 2, -width / 2, length / 2, width / 2)),), z_max_m=height),
             "wall": Site(walls=_wall_segments(length, width), z_max_m=height)}
    occupancy = Occupancy(_GAPS["room"], [corridor])
    return Layout(objects, path, sites, occupancy, materials)


def walk(recipe: Recipe, length: float, width: float, rng: np.random.Generator) -> tuple[CameraPath, np.ndarray]:
    """A constant-speed walk along world x inside the room, and its keep-out box.

    The walk starts in the back part of the room (the room lies ahead) and stays in the
    middle half of its width, ``clearance_m`` or more from the walls; a walk longer than the room allows is
    slowed down to fit. The keep-out box covers the walk widened by ``clearance_m`` and one
    more metre ahead.
    """
    spec, n = recipe.path, recipe.path.frames
    margin = spec.clearance_m
    step = spec.speed_mps.draw(rng) * spec.frame_interval_s
    room_for_walk = length - 2 * margin
    if n > 1 and step * (n - 1) > room_for_walk:
        logger.debug("%s: walk of %.2f m does not fit in %.2f m; slowed down", recipe.name, step * (n - 1),
                     room_for_walk)
        step = room_for_walk / (n - 1)
    heading = math.pi if rng.random() < 0.5 else 0.0
    sign = math.cos(heading)
    # Start in the back part of the room and keep off the side walls, so the room lies ahead.
    s0 = -length / 2 + margin + rng.uniform(0.0, 0.4) * (room_for_walk - step * (n - 1))
    lateral = rng.uniform(-0.25, 0.25) * (width - 2 * margin)
    start = np.array([sign * s0, lateral, spec.height_m.draw(rng)])
    path = straight_path(start, heading, step, n, spec.frame_interval_s, *_view_angles(spec, n, rng))
    xs = path.centres[:, 0]
    lo = np.array([xs.min() - margin - (1.0 if sign < 0 else 0.0), start[1] - margin])
    hi = np.array([xs.max() + margin + (1.0 if sign > 0 else 0.0), start[1] + margin])
    return path, _keep_out(lo, hi)


def _view_angles(spec, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame (pitch, yaw offset, roll) in radians: pitch and roll drawn per frame, a smooth yaw sway."""
    pitch = np.deg2rad([spec.pitch_deg.draw(rng) for _ in range(n)])
    amplitude = math.radians(spec.yaw_sway_deg.draw(rng))
    omega, phase = rng.uniform(0.4, 0.9), rng.uniform(0.0, 2 * math.pi)
    yaw = amplitude * np.sin(omega * np.arange(n) + phase)
    roll = np.deg2rad([spec.roll_deg.draw(rng) for _ in range(n)])
    return pitch, yaw, roll


# --- street ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StreetGeometry:
    """Cross-section of a street along x: road centred on y = 0 (all metres)."""

    length_m: float
    lanes: int
    lane_width_m: float
    parking_m: float
    sidewalk_m: float
    curb_m: float

    @property
    def road_half_m(self) -> float:
        return self.lanes * self.lane_width_m / 2.0

    @property
    def curb_y_m(self) -> float:
        return self.road_half_m + self.parking_m

    @property
    def facade_y_m(self) -> float:
        return self.curb_y_m + self.sidewalk_m

    def lane_centre(self, k: int) -> float:
        return -self.road_half_m + (k + 0.5) * self.lane_width_m

    def lane_yaw(self, k: int) -> float:
        """Right-hand traffic: lanes right of the centre line (y < 0) drive toward +x."""
        return 0.0 if self.lane_centre(k) <= 1e-9 else math.pi


def street_layout(recipe: Recipe, rng: np.random.Generator, path_rng: np.random.Generator,
                  materials: MaterialDraws) -> Layout:
    """A straight street along x with sidewalks and building rows, and a drive down a +x lane."""
    spec = recipe.layout
    g = StreetGeometry(spec.length_m.draw(rng), spec.lanes.draw(rng), spec.lane_width_m.draw(rng),
                       spec.parking_width_m.draw(rng), spec.sidewalk_width_m.draw(rng), spec.curb_height_m)
    objects = _street_ground(g, spec, materials) + _lane_markings(g, materials.pick(spec.markings))
    for side in (-1.0, 1.0):
        objects += _building_row(g, spec, side, rng, materials)
    path, corridor = drive(recipe, g, path_rng)
    x0, x1 = -_STREET_BEHIND_M, g.length_m
    lanes = tuple(Strip((x0, g.lane_centre(k) - g.lane_width_m / 2, x1, g.lane_centre(k) + g.lane_width_m / 2),
                        0.0, (g.lane_yaw(k),)) for k in range(g.lanes))
    parking = tuple(Strip((x0, min(s * g.road_half_m, s * g.curb_y_m), x1, max(s * g.road_half_m, s * g.curb_y_m)),
                          0.0, (0.0, math.pi)) for s in (-1, 1)) if g.parking_m >= 1.0 else ()
    walks = tuple(Strip((x0, min(s * (g.curb_y_m + 0.2), s * (g.facade_y_m - 0.3)), x1,
                         max(s * (g.curb_y_m + 0.2), s * (g.facade_y_m - 0.3))), g.curb_m, (0.0 if s < 0 else math.pi,))
                  for s in (-1, 1))
    sites = {"lane": Site(strips=lanes), "parking": Site(strips=parking), "sidewalk": Site(strips=walks)}
    return Layout(objects, path, sites, Occupancy(_GAPS["street"], [corridor]), materials)


def _street_ground(g: StreetGeometry, spec, materials: MaterialDraws) -> list:
    """Ground, road and the two raised sidewalks."""
    x0, x1 = -_STREET_BEHIND_M, g.length_m
    xc, xl = (x0 + x1) / 2, x1 - x0
    ground = _slab("ground", "ground", (xl + 200.0, 2 * g.facade_y_m + 120.0, 0.2), (xc, 0.0, -0.12),
                   materials.pick(spec.ground))
    road = _slab("road", "road", (xl, 2 * g.curb_y_m, 0.1), (xc, 0.0, -0.05), materials.pick(spec.road))
    walk_material = materials.pick(spec.sidewalk)
    walks = [_slab(f"sidewalk_{'+' if s > 0 else '-'}", "sidewalk", (xl, g.sidewalk_m, g.curb_m + 0.1),
                   (xc, s * (g.curb_y_m + g.sidewalk_m / 2), (g.curb_m - 0.1) / 2), walk_material) for s in (-1, 1)]
    return [ground, road] + walks


def _lane_markings(g: StreetGeometry, material: Material) -> list:
    """Dashed lines (3 m dashes every 9 m) between lanes, 5 mm above the road."""
    meshes = [shapes.box(3.0, 0.15, 0.005, x, -g.road_half_m + k * g.lane_width_m, 0.0)
              for k in range(1, g.lanes) for x in np.arange(-_STREET_BEHIND_M + 1.5, g.length_m - 1.5, 9.0)]
    if not meshes:
        return []
    return [SceneObject("markings", "marking", trimesh.util.concatenate(meshes), material)]


def _building_row(g: StreetGeometry, spec, side: float, rng: np.random.Generator,
                  materials: MaterialDraws) -> list:
    """Buildings along one side (``side`` -1: y < 0), facades on the sidewalk's back edge."""
    out, x = [], -_STREET_BEHIND_M
    while x < g.length_m:
        width = min(spec.building_width_m.draw(rng), g.length_m - x)
        height, depth = spec.building_height_m.draw(rng), rng.uniform(8.0, 15.0)
        if width >= 3.0:
            y_centre = side * (g.facade_y_m + depth / 2)
            name = f"building_{'+' if side > 0 else '-'}{len(out) // 2}"
            out.append(_slab(name, "building", (width, depth, height), (x + width / 2, y_centre, height / 2),
                             materials.pick(spec.facades)))
            windows = _windows(x, width, height, side * g.facade_y_m, spec.window_spacing_m)
            if windows is not None:
                out.append(SceneObject(f"{name}/windows", "window", windows, materials.pick(spec.windows)))
        x += width + spec.building_gap_m.draw(rng)
    return out


def _windows(x0: float, width: float, height: float, facade_y: float, spacing: float):
    """Window boxes (1.2 x 1.4 m, proud of the facade by 5 cm) on a grid, one row per 3.2 m storey."""
    if spacing <= 0:
        return None
    columns = int((width - 1.0) // spacing)
    storeys = int((height - 1.0) // 3.2)
    if columns < 1 or storeys < 1:
        return None
    margin = (width - columns * spacing) / 2
    meshes = [shapes.box(1.2, 0.1, 1.4, x0 + margin + (i + 0.5) * spacing, facade_y, 1.0 + 3.2 * j)
              for i in range(columns) for j in range(storeys)]
    return trimesh.util.concatenate(meshes)


def drive(recipe: Recipe, g: StreetGeometry, rng: np.random.Generator) -> tuple[CameraPath, np.ndarray]:
    """A constant-speed drive toward +x in one of the +x lanes, from x = 0; and its keep-out box.

    The keep-out box is the ego lane from 10 m behind the start to 12 m past the end.
    """
    spec, n = recipe.path, recipe.path.frames
    forward = [k for k in range(g.lanes) if g.lane_yaw(k) == 0.0]
    lane = forward[int(rng.integers(len(forward)))]
    step = spec.speed_mps.draw(rng) * spec.frame_interval_s
    if n > 1 and step * (n - 1) > g.length_m - 20.0:
        step = (g.length_m - 20.0) / (n - 1)
    y = g.lane_centre(lane) + rng.uniform(-0.3, 0.3)
    start = np.array([0.0, y, spec.height_m.draw(rng)])
    path = straight_path(start, 0.0, step, n, spec.frame_interval_s, *_view_angles(spec, n, rng))
    half = g.lane_width_m / 2
    corridor = _keep_out((-10.0, g.lane_centre(lane) - half), (step * (n - 1) + 12.0, g.lane_centre(lane) + half))
    return path, corridor


# --- tabletop ----------------------------------------------------------------------------------

def tabletop_layout(recipe: Recipe, rng: np.random.Generator, path_rng: np.random.Generator,
                    materials: MaterialDraws) -> Layout:
    """A table at the origin in a small room, and an orbit of the camera around it."""
    spec = recipe.layout
    length, width, height = spec.table_length_m.draw(rng), spec.table_width_m.draw(rng), spec.table_height_m.draw(rng)
    top, legs = shapes.build_kind("table", (length, width, height), rng)
    objects = [SceneObject("table", "table", top, materials.pick(spec.table)),
               SceneObject("table/legs", "table", legs, materials.pick(spec.table_legs))]
    radius = max(recipe.path.radius_m.draw(path_rng), math.hypot(length / 2, width / 2) + recipe.path.clearance_m)
    half = radius + spec.room_margin_m.draw(rng)
    room_height = spec.room_height_m.draw(rng)
    floor, ceiling = materials.pick(spec.floor), materials.pick(spec.walls)
    objects += _room_shell(2 * half, 2 * half, room_height, floor, ceiling, materials.pick(spec.walls))
    path = orbit(recipe, np.array([0.0, 0.0, height]), radius, (length, width), path_rng)
    top_strip = Strip((-length / 2 + 0.02, -width / 2 + 0.02, length / 2 - 0.02, width / 2 - 0.02), height)
    return Layout(objects, path, {"table": Site(strips=(top_strip,))}, Occupancy(_GAPS["tabletop"]), materials)


def orbit(recipe: Recipe, centre: np.ndarray, radius_m: float, table_size, rng: np.random.Generator) -> CameraPath:
    """An orbit at ``radius_m`` around the table centre, looking at points on the table top."""
    spec, n = recipe.path, recipe.path.frames
    step = math.radians(spec.step_deg.draw(rng)) * (1.0 if rng.random() < 0.5 else -1.0)
    start, height = rng.uniform(0.0, 2 * math.pi), spec.height_m.draw(rng)
    jitter = min(spec.look_jitter_m, min(table_size) / 2)
    offsets = rng.uniform(-jitter, jitter, (n, 2)) if jitter > 0 else np.zeros((n, 2))
    targets = np.column_stack([centre[0] + offsets[:, 0], centre[1] + offsets[:, 1], np.full(n, centre[2])])
    roll = np.deg2rad([spec.roll_deg.draw(rng) for _ in range(n)])
    return orbit_path(centre, radius_m, height, start, step, n, spec.frame_interval_s, targets, roll)


FAMILY_LAYOUTS = {"room": room_layout, "street": street_layout, "tabletop": tabletop_layout}


# --- objects, lights, cameras ------------------------------------------------------------------

def place_objects(recipe: Recipe, layout: Layout, rng: np.random.Generator) -> list:
    """The recipe's objects, each drawn (count, size, materials) and placed clear of the others."""
    out = []
    for spec in recipe.objects:
        for _ in range(spec.count.draw(rng)):
            size = tuple(r.draw(rng) for r in spec.size_m)
            main, detail = shapes.build_kind(spec.kind, size, rng)
            local = main.bounds if detail is None else np.vstack([main.bounds, detail.bounds])
            local = np.stack([local.min(axis=0), local.max(axis=0)])
            T = placement.place(layout.sites[spec.place], local, spec.elevation_m.draw(rng), spec.yaw == "free",
                                layout.occupancy, rng)
            if T is None:
                logger.debug("%s: no room for a %s %s; dropped", recipe.name, spec.kind, np.round(size, 2).tolist())
                continue
            name = f"{spec.kind}{sum(o.kind == spec.kind for o in out if '/' not in o.name)}"
            out.append(SceneObject(name, spec.kind, main.apply_transform(T), layout.materials.pick(spec.material)))
            if detail is not None:
                out.append(SceneObject(f"{name}/detail", spec.kind, detail.apply_transform(T),
                                       layout.materials.pick(spec.details)))
    return out


def lights(recipe: Recipe, rng: np.random.Generator) -> tuple[tuple, float]:
    """Directional lights (direction of travel, world frame) and the ambient share."""
    out = []
    for spec in recipe.lighting.lights:
        azimuth, elevation = math.radians(spec.azimuth_deg.draw(rng)), math.radians(spec.elevation_deg.draw(rng))
        toward = (math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth), math.sin(elevation))
        out.append(Light(direction_world=tuple(-c for c in toward), intensity=spec.intensity.draw(rng)))
    return tuple(out), recipe.lighting.ambient.draw(rng)


def cameras(rig: CameraRig, path: CameraPath, rng: np.random.Generator, image_scale: float = 1.0) -> tuple:
    """One camera per pose: intrinsics drawn per frame or once per sequence, then resized by ``image_scale``."""
    first = draw_intrinsics(rig, rng)
    out = []
    for i, pose in enumerate(path.poses):
        camera = first if (i == 0 or rig.redraw == "sequence") else draw_intrinsics(rig, rng)
        out.append(scaled(camera, image_scale).replace(T_world_cam=pose))
    return tuple(out)


def check_clear(recipe: Recipe, index: int, scene: Scene, centres: np.ndarray, what: str) -> None:
    """Raise ConfigError if any centre lies within CAMERA_MARGIN_M of an object's bounding box."""
    for obj in scene.objects:
        lo, hi = obj.mesh.bounds[0] - CAMERA_MARGIN_M, obj.mesh.bounds[1] + CAMERA_MARGIN_M
        inside = np.all((centres > lo) & (centres < hi), axis=1)
        if inside.any():
            frame = int(np.flatnonzero(inside)[0])
            raise ConfigError(f"{recipe.file}: path: the {what} of frame {frame} of scene {index} is inside object "
                              f"{obj.name!r} (bounds {np.round(obj.mesh.bounds, 2).tolist()}); give the path "
                              "more room (layout sizes, path.clearance_m, path.height_m)")


def build_scene(recipe: Recipe, index: int, *, extra_seed: int = 0, rig: CameraRig | None = None,
                image_scale: float = 1.0) -> SyntheticScene:
    """Build scene ``index`` of a recipe: structure, path, objects, lights, cameras; checked.

    Args:
        recipe: a validated recipe.
        index: scene index, 0 <= index < recipe.sequences (not enforced: any index is a scene).
        extra_seed: mixed into every stream (0 = the recipe as written).
        rig: camera rig to use instead of ``recipe.camera``.
        image_scale: resize every camera by this factor (same field of view, fewer pixels).

    Raises:
        ConfigError: a camera or LiDAR centre ends up inside an object.
    """
    seed = (recipe.seed, extra_seed, index)
    materials = MaterialDraws(recipe.materials, stream(recipe, extra_seed, index, OBJECTS, 1))
    layout = FAMILY_LAYOUTS[recipe.family](recipe, stream(recipe, extra_seed, index, LAYOUT),
                                           stream(recipe, extra_seed, index, PATH), materials)
    objects = layout.objects + place_objects(recipe, layout, stream(recipe, extra_seed, index, OBJECTS))
    scene_lights, ambient = lights(recipe, stream(recipe, extra_seed, index, LIGHTING))
    scene = Scene(objects=tuple(objects), lights=scene_lights, ambient=ambient,
                  background_rgb=tuple(recipe.lighting.background_rgb), name=f"{recipe.name}/{index}")
    T_cam_lidar = lidar_mount(recipe.lidar.position_cam_m)
    check_clear(recipe, index, scene, layout.path.centres, "camera")
    check_clear(recipe, index, scene, (layout.path.poses @ T_cam_lidar)[:, :3, 3], "LiDAR")
    cams = cameras(rig or recipe.camera, layout.path, stream(recipe, extra_seed, index, CAMERAS), image_scale)
    logger.debug("built %s/%d: %d objects, %d faces", recipe.name, index, len(scene.objects),
                 sum(len(o.mesh.faces) for o in scene.objects))
    return SyntheticScene(recipe, index, seed, scene, layout.path, cams, T_cam_lidar)

