"""Scene recipes: the YAML files in ``scenes/``, validated into frozen dataclasses.

A recipe names a scene family (``room``, ``street``, ``tabletop``), the family's layout,
named materials, object kinds with counts, sizes and placements, the lighting, the camera
rig (intrinsics ranges, distortion, LiDAR mount), the camera path, how many scenes
(``sequences``) and a seed. ``seed`` + a scene index make one concrete scene. The recipe's
name is its file stem. See ``scenes/room.yaml`` for a commented example.

Every malformed recipe raises ConfigError naming the file, the field as a path
(``objects[2].size_m``) and what is allowed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datagen.errors import ConfigError
from datagen.render.scene import PATTERNS
from datagen.synthetic.schema import (
    RGB,
    FieldError,
    IntRange,
    Range,
    Size,
    Vec3,
    check,
    check_choice,
    check_range,
    config_error,
    load_yaml,
    read_dataclass,
    read_value,
)

logger = logging.getLogger(__name__)

#: Size parameters of every object kind, in the order ``size_m`` lists them (metres).
KIND_SIZES: dict[str, tuple[str, ...]] = {
    "box": ("length", "width", "height"),
    "cylinder": ("diameter", "height"),
    "sphere": ("diameter",),
    "cone": ("diameter", "height"),
    "table": ("length", "width", "height"),
    "chair": ("width", "depth", "height"),
    "cabinet": ("length", "depth", "height"),
    "shelf": ("length", "depth", "height"),
    "sofa": ("length", "depth", "height"),
    "door": ("width", "thickness", "height"),
    "window": ("width", "thickness", "height"),
    "car": ("length", "width", "height"),
    "truck": ("length", "width", "height"),
    "pole": ("diameter", "height"),
    "tree": ("crown_diameter", "height"),
    "person": ("width", "height"),
    "bottle": ("diameter", "height"),
    "mug": ("diameter", "height"),
}
_SHAPES = ("box", "cylinder", "sphere", "cone")
#: Kinds that only make sense against a wall.
WALL_ONLY = ("door", "window")
PATH_KINDS = ("walk", "drive", "orbit")
#: Upper bounds that keep a recipe's scenes buildable in memory and time.
MAX_SEQUENCES = 100_000
MAX_FRAMES_PER_RECIPE = 1_000_000  # sequences x path.frames
MAX_OBJECT_COUNT = 1000  # objects of one kind per scene
CAMERA_REDRAW = ("frame", "sequence")
YAW_MODES = ("aligned", "free")


@dataclass(frozen=True)
class FamilySpec:
    """What a family allows: its layout class, path kind, object kinds and placements."""

    layout: type
    path: str
    kinds: tuple[str, ...]
    places: tuple[str, ...]


# --- materials, objects, lighting --------------------------------------------------------------

@dataclass(frozen=True)
class MaterialSpec:
    """A named material; each object using it draws one of the choices.

    Attributes:
        color: base colour choices, [r, g, b] in [0, 1] (one colour or a list of them).
        pattern: pattern choices, from flat, checker, stripes, noise, brick.
        pattern_color: second-colour choices of the pattern, [r, g, b] in [0, 1].
        scale_m: pattern period in metres, a number or [min, max].
        color_jitter: each channel of the drawn colour moves by up to this much (0 to 0.5).
    """

    color: tuple[RGB, ...]
    pattern: tuple[str, ...] = ("flat",)
    pattern_color: tuple[RGB, ...] = (RGB((0.3, 0.3, 0.3)),)
    scale_m: Range = Range(0.5, 0.5)
    color_jitter: float = 0.0

    def __post_init__(self) -> None:
        check(len(self.color) > 0, "color", "needs at least one [r, g, b] colour")
        check(len(self.pattern_color) > 0, "pattern_color", "needs at least one [r, g, b] colour")
        for i, name in enumerate(self.pattern):
            check_choice(name, PATTERNS, f"pattern[{i}]")
        check_range(self.scale_m, "scale_m", unit=" m")
        check(0.0 <= self.color_jitter <= 0.5, "color_jitter", f"must be in [0, 0.5], got {self.color_jitter}")


@dataclass(frozen=True)
class ObjectSpec:
    """A kind of object placed ``count`` times in each scene.

    Attributes:
        kind: the object kind (box, cylinder, sphere, cone, table, chair, cabinet, shelf, sofa, door,
            window, car, truck, pole, tree, person, bottle, mug; the family limits the choice).
        count: how many per scene, an integer or [min, max] (placements that do not fit are dropped).
        size_m: one number or [min, max] per size parameter of the kind, metres.
        place: where it stands (room: floor, wall; street: lane, parking, sidewalk; tabletop: table).
        material: names of materials (from ``materials``) of the main body, one drawn per object.
        detail_material: names of materials of the details (legs, wheels, trunk...); default ``material``.
        elevation_m: height of the object's bottom above its support, metres (shelves, windows).
        yaw: "aligned" (axis-aligned with its support, either way round) or "free" (any heading).
    """

    kind: str
    count: IntRange
    size_m: tuple[Range, ...]
    place: str
    material: tuple[str, ...]
    detail_material: tuple[str, ...] = ()
    elevation_m: Range = Range(0.0, 0.0)
    yaw: str = "aligned"

    def __post_init__(self) -> None:
        check_choice(self.kind, KIND_SIZES, "kind")
        check(self.count.lo >= 0 and self.count.hi <= MAX_OBJECT_COUNT, "count",
              f"must be from 0 to {MAX_OBJECT_COUNT} per scene, got [{self.count.lo}, {self.count.hi}]")
        names = KIND_SIZES[self.kind]
        check(len(self.size_m) == len(names), "size_m",
              f"kind {self.kind!r} takes {len(names)} sizes [{', '.join(names)}] in metres, "
              f"each a number or [min, max]; got {len(self.size_m)}")
        for i, size in enumerate(self.size_m):
            check_range(size, f"size_m[{i}]", unit=f" m ({names[i]})")
        check_range(self.elevation_m, "elevation_m", strict=False, unit=" m")
        check(len(self.material) > 0, "material", "needs at least one material name")
        check_choice(self.yaw, YAW_MODES, "yaw")
        if self.kind in WALL_ONLY:
            check(self.place == "wall", "place", f"kind {self.kind!r} must be placed on a 'wall', got {self.place!r}")

    @property
    def details(self) -> tuple[str, ...]:
        return self.detail_material or self.material


@dataclass(frozen=True)
class LightSpec:
    """A directional light (the sun, or a ceiling light seen as one).

    Attributes:
        azimuth_deg: direction the light comes from, degrees counter-clockwise from world +x.
        elevation_deg: height of the light above the horizon, degrees (90 = straight down).
        intensity: brightness, a number or [min, max] in [0, 2].
    """

    azimuth_deg: Range = Range(0.0, 360.0)
    elevation_deg: Range = Range(45.0, 45.0)
    intensity: Range = Range(0.7, 0.7)

    def __post_init__(self) -> None:
        check_range(self.elevation_deg, "elevation_deg", lo=0.0, hi=90.0, unit=" degrees")
        check_range(self.intensity, "intensity", lo=0.0, hi=2.0, strict=False)


@dataclass(frozen=True)
class LightingSpec:
    """Lights, ambient light and the sky colour.

    Attributes:
        ambient: ambient share of the light, a number or [min, max] in [0, 1].
        lights: the directional lights.
        background_rgb: sky colour at the horizon, [r, g, b] in [0, 1].
    """

    ambient: Range = Range(0.35, 0.35)
    lights: tuple[LightSpec, ...] = (LightSpec(),)
    background_rgb: RGB = RGB((0.62, 0.72, 0.86))

    def __post_init__(self) -> None:
        check_range(self.ambient, "ambient", lo=0.0, hi=1.0, strict=False)


# --- camera rig and LiDAR ----------------------------------------------------------------------

@dataclass(frozen=True)
class DistortionSpec:
    """Radial-tangential (OpenCV k1, k2, p1, p2) distortion, drawn with some probability.

    A draw that is not invertible over the whole image is drawn again (then pinhole).

    Attributes:
        probability: share of cameras that get distortion, in [0, 1].
        k1: first radial coefficient, a number or [min, max] in [-0.5, 0.5].
        k2: second radial coefficient, a number or [min, max] in [-0.5, 0.5].
        p1: first tangential coefficient, a number or [min, max] in [-0.01, 0.01].
        p2: second tangential coefficient, a number or [min, max] in [-0.01, 0.01].
    """

    probability: float = 0.0
    k1: Range = Range(0.0, 0.0)
    k2: Range = Range(0.0, 0.0)
    p1: Range = Range(0.0, 0.0)
    p2: Range = Range(0.0, 0.0)

    def __post_init__(self) -> None:
        check(0.0 <= self.probability <= 1.0, "probability", f"must be in [0, 1], got {self.probability}")
        for name, bound in (("k1", 0.5), ("k2", 0.5), ("p1", 0.01), ("p2", 0.01)):
            check_range(getattr(self, name), name, lo=-bound, hi=bound, strict=False)


@dataclass(frozen=True)
class CameraRig:
    """How each camera's intrinsics are drawn.

    Attributes:
        resolutions: image size choices, [width, height] in pixels (one or a list).
        focal_px: focal length in pixels, a number or [min, max] in [50, 10000] (fx = fy).
        hfov_deg: horizontal field of view limits, [min, max] degrees in (0, 170); narrows focal_px
            per resolution.
        principal_jitter: principal point offset from the image centre, up to this share of the image
            size, in [0, 0.2].
        distortion: radial-tangential distortion.
        redraw: "frame" (new intrinsics every frame) or "sequence" (one camera per scene).
    """

    resolutions: tuple[Size, ...]
    focal_px: Range
    hfov_deg: Range = Range(20.0, 120.0)
    principal_jitter: float = 0.0
    distortion: DistortionSpec = DistortionSpec()
    redraw: str = "sequence"

    def __post_init__(self) -> None:
        check(len(self.resolutions) > 0, "resolutions", "needs at least one [width, height]")
        check_range(self.focal_px, "focal_px", lo=50.0, hi=10000.0, strict=False, unit=" px")
        check_range(self.hfov_deg, "hfov_deg", lo=0.0, hi=170.0, unit=" degrees")
        check(0.0 <= self.principal_jitter <= 0.2, "principal_jitter",
              f"must be in [0, 0.2] (share of the image size), got {self.principal_jitter}")
        check_choice(self.redraw, CAMERA_REDRAW, "redraw")


@dataclass(frozen=True)
class LidarSpec:
    """A spinning LiDAR rigidly mounted on the camera (see datagen.render.lidar.LidarConfig).

    Its axes are x forward, y left, z up, aligned with the camera's forward, left and up.

    Attributes:
        enabled: simulate the sweep (Frame.points); false leaves only the rendered depth.
        position_cam_m: sensor position in the camera frame (OpenCV: x right, y down, z forward),
            metres; [0, -0.3, -0.1] = 0.3 m above and 0.1 m behind.
        beams: number of lasers, 1 to 256.
        vertical_fov_deg: [lowest, highest] beam elevation, degrees.
        azimuth_steps: columns per revolution, 16 to 8192.
        min_range_m: nearest return, metres.
        max_range_m: farthest return, metres.
        range_noise_m: Gaussian range noise, metres.
        dropout: share of returns dropped, in [0, 1).
    """

    enabled: bool = True
    position_cam_m: Vec3 = Vec3((0.0, -0.3, -0.1))
    beams: int = 64
    vertical_fov_deg: Range = Range(-24.9, 2.0)
    azimuth_steps: int = 2048
    min_range_m: float = 0.5
    max_range_m: float = 120.0
    range_noise_m: float = 0.01
    dropout: float = 0.05

    def __post_init__(self) -> None:
        check(1 <= self.beams <= 256, "beams", f"must be in [1, 256], got {self.beams}")
        check(16 <= self.azimuth_steps <= 8192, "azimuth_steps", f"must be in [16, 8192], got {self.azimuth_steps}")
        check_range(self.vertical_fov_deg, "vertical_fov_deg", lo=-90.0, hi=90.0, strict=False, unit=" degrees")
        check(0.0 <= self.min_range_m < self.max_range_m, "max_range_m",
              f"needs 0 <= min_range_m < max_range_m, got {self.min_range_m} and {self.max_range_m}")
        check(self.range_noise_m >= 0.0, "range_noise_m", f"must be >= 0, got {self.range_noise_m}")
        check(0.0 <= self.dropout < 1.0, "dropout", f"must be in [0, 1), got {self.dropout}")
        check(max(abs(c) for c in self.position_cam_m) <= 5.0, "position_cam_m",
              f"must be within 5 m of the camera, got {list(self.position_cam_m)}")


# --- camera paths ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PathSpec:
    """A camera path: ``frames`` poses ``frame_interval_s`` apart.

    Attributes:
        kind: walk (room), drive (street) or orbit (tabletop).
        frames: frames per sequence, 1 to 10000.
        frame_interval_s: time between frames, seconds.
        speed_mps: walk/drive speed, metres per second, a number or [min, max] (walk, drive).
        height_m: camera height above the floor or road (walk, drive) or the table top (orbit), metres.
        pitch_deg: camera pitch, degrees above the horizon (walk, drive; negative looks down).
        yaw_sway_deg: amplitude of the heading's sway about the direction of travel, degrees (walk, drive).
        roll_deg: camera roll, degrees.
        radius_m: orbit radius from the table centre, metres (orbit; raised to clear the table).
        step_deg: orbit angle per frame, degrees (orbit; the direction is drawn).
        look_jitter_m: the orbit looks at a point up to this far from the table centre, metres (orbit).
        clearance_m: free space kept around the path (objects are not placed there), metres.
    """

    kind: str
    frames: int
    frame_interval_s: float = 0.5
    speed_mps: Range = Range(1.0, 1.0)
    height_m: Range = Range(1.5, 1.5)
    pitch_deg: Range = Range(0.0, 0.0)
    yaw_sway_deg: Range = Range(0.0, 0.0)
    roll_deg: Range = Range(0.0, 0.0)
    radius_m: Range = Range(1.0, 1.0)
    step_deg: Range = Range(10.0, 10.0)
    look_jitter_m: float = 0.0
    clearance_m: float = 0.7

    def __post_init__(self) -> None:
        check_choice(self.kind, PATH_KINDS, "kind")
        check(1 <= self.frames <= 10000, "frames", f"must be in [1, 10000], got {self.frames}")
        check(self.frame_interval_s > 0, "frame_interval_s", f"must be > 0 s, got {self.frame_interval_s}")
        check_range(self.speed_mps, "speed_mps", strict=False, unit=" m/s")
        check_range(self.height_m, "height_m", unit=" m")
        check_range(self.pitch_deg, "pitch_deg", lo=-89.0, hi=89.0, strict=False, unit=" degrees")
        check_range(self.yaw_sway_deg, "yaw_sway_deg", hi=90.0, strict=False, unit=" degrees")
        check_range(self.roll_deg, "roll_deg", lo=-45.0, hi=45.0, strict=False, unit=" degrees")
        check_range(self.radius_m, "radius_m", unit=" m")
        check_range(self.step_deg, "step_deg", hi=180.0, strict=False, unit=" degrees")
        check(self.look_jitter_m >= 0, "look_jitter_m", f"must be >= 0 m, got {self.look_jitter_m}")
        check(self.clearance_m >= 0.3, "clearance_m", f"must be >= 0.3 m, got {self.clearance_m}")


# --- layouts -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RoomLayout:
    """A closed room centred on the origin, floor at z = 0.

    Attributes:
        length_m: extent along world x, metres (the walk goes along it).
        width_m: extent along world y, metres.
        height_m: floor to ceiling, metres.
        floor: material names of the floor.
        walls: material names of the walls (one drawn per room).
        ceiling: material names of the ceiling.
    """

    length_m: Range
    width_m: Range
    height_m: Range
    floor: tuple[str, ...]
    walls: tuple[str, ...]
    ceiling: tuple[str, ...]

    def __post_init__(self) -> None:
        check_range(self.length_m, "length_m", lo=3.0, hi=50.0, strict=False, unit=" m")
        check_range(self.width_m, "width_m", lo=3.0, hi=50.0, strict=False, unit=" m")
        check_range(self.height_m, "height_m", lo=2.2, hi=10.0, strict=False, unit=" m")

    def material_fields(self) -> tuple[str, ...]:
        return ("floor", "walls", "ceiling")


@dataclass(frozen=True)
class StreetLayout:
    """A straight street along world x: lanes, parking strips, raised sidewalks, building rows.

    Attributes:
        length_m: street length ahead of the start of the drive, metres.
        lanes: number of driving lanes, an integer or [min, max] in [1, 8].
        lane_width_m: lane width, metres.
        parking_width_m: width of the parking strip on each side (0 = none), metres.
        sidewalk_width_m: sidewalk width, metres.
        curb_height_m: sidewalk height above the road, metres.
        building_width_m: width of one building along the street, metres.
        building_height_m: building height, metres.
        building_gap_m: gap between neighbouring buildings, metres.
        window_spacing_m: distance between window centres on the facades (0 = no windows), metres.
        road: material names of the road.
        sidewalk: material names of the sidewalks.
        ground: material names of the ground beyond.
        facades: material names of the buildings (one drawn per building).
        windows: material names of the windows.
        markings: material names of the dashed lane markings.
    """

    length_m: Range
    lanes: IntRange
    lane_width_m: Range
    sidewalk_width_m: Range
    building_height_m: Range
    road: tuple[str, ...]
    sidewalk: tuple[str, ...]
    ground: tuple[str, ...]
    facades: tuple[str, ...]
    windows: tuple[str, ...]
    markings: tuple[str, ...]
    parking_width_m: Range = Range(0.0, 0.0)
    curb_height_m: float = 0.15
    building_width_m: Range = Range(10.0, 25.0)
    building_gap_m: Range = Range(0.0, 4.0)
    window_spacing_m: float = 3.0

    def __post_init__(self) -> None:
        check_range(self.length_m, "length_m", lo=20.0, hi=2000.0, strict=False, unit=" m")
        check(1 <= self.lanes.lo and self.lanes.hi <= 8, "lanes",
              f"must be in [1, 8], got [{self.lanes.lo}, {self.lanes.hi}]")
        check_range(self.lane_width_m, "lane_width_m", lo=2.0, hi=6.0, strict=False, unit=" m")
        check_range(self.parking_width_m, "parking_width_m", hi=5.0, strict=False, unit=" m")
        check_range(self.sidewalk_width_m, "sidewalk_width_m", lo=1.0, hi=20.0, strict=False, unit=" m")
        check(0.0 <= self.curb_height_m <= 0.5, "curb_height_m", f"must be in [0, 0.5] m, got {self.curb_height_m}")
        check_range(self.building_width_m, "building_width_m", lo=3.0, unit=" m", strict=False)
        check_range(self.building_height_m, "building_height_m", lo=3.0, hi=300.0, strict=False, unit=" m")
        check_range(self.building_gap_m, "building_gap_m", strict=False, unit=" m")
        check(self.window_spacing_m == 0 or self.window_spacing_m >= 1.5, "window_spacing_m",
              f"must be 0 (no windows) or >= 1.5 m, got {self.window_spacing_m}")

    def material_fields(self) -> tuple[str, ...]:
        return ("road", "sidewalk", "ground", "facades", "windows", "markings")


@dataclass(frozen=True)
class TabletopLayout:
    """A table centred on the origin in a small room (floor at z = 0).

    Attributes:
        table_length_m: table top extent along world x, metres.
        table_width_m: table top extent along world y, metres.
        table_height_m: floor to table top, metres.
        room_margin_m: free floor between the camera's orbit and the walls, metres.
        room_height_m: floor to ceiling, metres.
        table: material names of the table top.
        table_legs: material names of the table legs.
        floor: material names of the floor.
        walls: material names of the walls.
    """

    table_length_m: Range
    table_width_m: Range
    table_height_m: Range
    table: tuple[str, ...]
    table_legs: tuple[str, ...]
    floor: tuple[str, ...]
    walls: tuple[str, ...]
    room_margin_m: Range = Range(0.4, 0.8)
    room_height_m: Range = Range(2.5, 2.8)

    def __post_init__(self) -> None:
        check_range(self.table_length_m, "table_length_m", lo=0.3, hi=5.0, strict=False, unit=" m")
        check_range(self.table_width_m, "table_width_m", lo=0.3, hi=5.0, strict=False, unit=" m")
        check_range(self.table_height_m, "table_height_m", lo=0.2, hi=1.5, strict=False, unit=" m")
        check_range(self.room_margin_m, "room_margin_m", lo=0.2, strict=False, unit=" m")
        check_range(self.room_height_m, "room_height_m", lo=1.8, hi=10.0, strict=False, unit=" m")

    def material_fields(self) -> tuple[str, ...]:
        return ("table", "table_legs", "floor", "walls")


FAMILIES: dict[str, FamilySpec] = {
    "room": FamilySpec(RoomLayout, "walk", _SHAPES + ("table", "chair", "cabinet", "shelf", "sofa", "door",
                                                       "window"), ("floor", "wall")),
    "street": FamilySpec(StreetLayout, "drive", _SHAPES + ("car", "truck", "pole", "tree", "person"),
                         ("lane", "parking", "sidewalk")),
    "tabletop": FamilySpec(TabletopLayout, "orbit", _SHAPES + ("bottle", "mug"), ("table",)),
}


# --- the recipe --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recipe:
    """One scene recipe (a YAML file in ``scenes/``).

    Attributes:
        name: the file stem; frame ids read ``synthetic/<name>/<scene>/<frame>``.
        family: room, street or tabletop.
        seed: with a scene index, makes one concrete scene.
        sequences: number of scenes (each one camera path).
        layout: the family's layout (RoomLayout, StreetLayout or TabletopLayout).
        materials: named materials.
        objects: object kinds placed in each scene.
        lighting: lights, ambient, sky.
        camera: the camera rig (intrinsics draws).
        lidar: the LiDAR mounted on the camera.
        path: the camera path.
        description: free text.
        file: the YAML file it was read from.
    """

    name: str
    family: str
    seed: int
    sequences: int
    layout: Any
    materials: dict
    objects: tuple
    lighting: LightingSpec
    camera: CameraRig
    lidar: LidarSpec
    path: PathSpec
    description: str = ""
    file: Path | None = None

    def __post_init__(self) -> None:
        where = self.file or self.name
        if self.family not in FAMILIES:
            raise ConfigError(f"{where}: family: unknown family {self.family!r}; allowed: {', '.join(FAMILIES)}")
        if not isinstance(self.layout, FAMILIES[self.family].layout):
            raise ConfigError(f"{where}: layout: a {self.family!r} recipe needs a "
                              f"{FAMILIES[self.family].layout.__name__}, got {type(self.layout).__name__}")
        for name, minimum in (("seed", 0), ("sequences", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(f"{where}: {name}: must be an integer >= {minimum}, got {value!r}")
        if self.sequences > MAX_SEQUENCES:
            raise ConfigError(f"{where}: sequences: must be at most {MAX_SEQUENCES}, got {self.sequences}")
        if self.sequences * self.path.frames > MAX_FRAMES_PER_RECIPE:
            raise ConfigError(f"{where}: sequences x path.frames must be at most {MAX_FRAMES_PER_RECIPE} frames, "
                              f"got {self.sequences} x {self.path.frames}")

    @property
    def frames_per_sequence(self) -> int:
        return self.path.frames

    @property
    def spec(self) -> FamilySpec:
        return FAMILIES[self.family]


#: Top-level keys of a recipe file, with whether each is required.
_TOP_LEVEL = {"family": True, "seed": True, "sequences": True, "layout": True, "materials": True,
              "objects": True, "lighting": False, "camera": True, "lidar": False, "path": True,
              "description": False}


def load_recipe(path: Path | str) -> Recipe:
    """Read and validate one recipe file.

    Args:
        path: a ``.yaml`` file; the recipe's name is its stem.

    Raises:
        ConfigError: unreadable file, bad YAML, a key given twice, or any malformed field (named by its path).
    """
    path = Path(path)
    return parse_recipe(load_yaml(path, "recipe"), name=path.stem, file=path)


def parse_recipe(data: Any, name: str, file: Path | str = "<recipe>") -> Recipe:
    """Validate a recipe given as a parsed YAML mapping; see ``load_recipe``."""
    if not isinstance(data, dict):
        raise config_error(file, "", f"a recipe must be a mapping with fields {', '.join(_TOP_LEVEL)}")
    _check_top_level(data, file)
    family = read_value(data["family"], str, file, "family")
    if family not in FAMILIES:
        raise config_error(file, "family", f"unknown family {family!r}; allowed: {', '.join(FAMILIES)}")
    spec = FAMILIES[family]
    recipe = Recipe(
        name=name, family=family, file=Path(file),
        seed=_non_negative(data["seed"], file, "seed"),
        sequences=_non_negative(data["sequences"], file, "sequences", minimum=1),
        description=read_value(data["description"], str, file, "description") if "description" in data else "",
        layout=read_dataclass(spec.layout, data["layout"], file, "layout"),
        materials=read_value(data["materials"], dict[str, MaterialSpec], file, "materials"),
        objects=read_value(data["objects"], tuple[ObjectSpec, ...], file, "objects"),
        lighting=read_dataclass(LightingSpec, data.get("lighting", {}), file, "lighting"),
        camera=read_dataclass(CameraRig, data["camera"], file, "camera"),
        lidar=read_dataclass(LidarSpec, data.get("lidar", {}), file, "lidar"),
        path=read_dataclass(PathSpec, data["path"], file, "path"),
    )
    _check_family(recipe, file)
    _check_material_names(recipe, file)
    return recipe


def _check_top_level(data: dict, file: Path | str) -> None:
    unknown = sorted(str(k) for k in data if k not in _TOP_LEVEL)
    if unknown:
        raise config_error(file, unknown[0], f"unknown field; allowed: {', '.join(_TOP_LEVEL)}")
    missing = [k for k, required in _TOP_LEVEL.items() if required and k not in data]
    if missing:
        required = ", ".join(k for k, needed in _TOP_LEVEL.items() if needed)
        raise config_error(file, missing[0], f"missing field (required: {required})")


def _non_negative(value: Any, file: Path | str, path: str, minimum: int = 0) -> int:
    number = read_value(value, int, file, path)
    if number < minimum:
        raise config_error(file, path, f"must be an integer >= {minimum}, got {number}")
    return number


def _check_family(recipe: Recipe, file: Path | str) -> None:
    """Object kinds, placements and the path kind must be ones the family knows."""
    spec = recipe.spec
    for i, obj in enumerate(recipe.objects):
        if obj.kind not in spec.kinds:
            raise config_error(file, f"objects[{i}].kind", f"kind {obj.kind!r} is not available in a "
                               f"{recipe.family!r} scene; allowed: {', '.join(spec.kinds)}")
        if obj.place not in spec.places:
            raise config_error(file, f"objects[{i}].place", f"unknown placement {obj.place!r} for a "
                               f"{recipe.family!r} scene; allowed: {', '.join(spec.places)}")
    if recipe.path.kind != spec.path:
        raise config_error(file, "path.kind", f"a {recipe.family!r} scene takes a {spec.path!r} path, "
                           f"got {recipe.path.kind!r}")


def _check_material_names(recipe: Recipe, file: Path | str) -> None:
    """Every material name used by the layout and the objects must be defined in ``materials``."""
    known = recipe.materials
    uses = [(f"layout.{name}", getattr(recipe.layout, name)) for name in recipe.layout.material_fields()]
    for i, obj in enumerate(recipe.objects):
        uses += [(f"objects[{i}].material", obj.material), (f"objects[{i}].detail_material", obj.detail_material)]
    for where, names in uses:
        if where.startswith("layout.") and not names:
            raise config_error(file, where, "needs at least one material name")
        for j, name in enumerate(names):
            if name not in known:
                raise config_error(file, f"{where}[{j}]", f"unknown material {name!r}; defined in materials: "
                                   f"{', '.join(sorted(known)) or '(none)'}")


def load_recipes(root: Path | str, names: tuple[str, ...] | None = None) -> tuple[Recipe, ...]:
    """All recipes of a folder (``*.yaml``), sorted by name, or only the named ones.

    Raises:
        ConfigError: the folder is missing or empty, a name is unknown, or a recipe is malformed.
    """
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: recipe folder not found (a folder of scene recipe *.yaml files)")
    files = {p.stem: p for p in sorted(root.glob("*.yaml"))}
    if not files:
        raise ConfigError(f"{root}: no scene recipes (*.yaml) in the folder")
    if names is None:
        names = tuple(sorted(files))
    unknown = [n for n in names if n not in files]
    if unknown:
        raise ConfigError(f"{root}: unknown recipe {unknown[0]!r}; known: {', '.join(sorted(files))}")
    return tuple(load_recipe(files[n]) for n in names)


__all__ = ["FAMILIES", "KIND_SIZES", "CameraRig", "DistortionSpec", "FieldError", "LidarSpec", "LightSpec",
           "LightingSpec", "MaterialSpec", "ObjectSpec", "PathSpec", "Recipe", "RoomLayout", "StreetLayout",
           "TabletopLayout", "load_recipe", "load_recipes", "parse_recipe"]
