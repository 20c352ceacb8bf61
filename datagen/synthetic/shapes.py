"""Object kinds built from trimesh primitives, in the object's own frame.

Every builder takes the kind's sizes (``recipe.KIND_SIZES`` order, metres) and a random
generator, and returns ``(main, detail)``: two lists of trimesh meshes, drawn with the
object's main and detail materials. The object frame has its origin at the centre of the
footprint on the support surface, z up, x along the object's length, and the front facing
+y (a wall-placed object has its back, -y, against the wall).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import trimesh

Parts = tuple[list, list]
#: Facets of round primitives: enough to look round at 640x480, few enough to stay fast.
SECTIONS = 16


def box(lx: float, ly: float, lz: float, x: float = 0.0, y: float = 0.0, z0: float = 0.0) -> trimesh.Trimesh:
    """An axis-aligned box of extents (lx, ly, lz) centred at (x, y) with its bottom at z0."""
    return trimesh.creation.box(extents=(lx, ly, lz), transform=_translation(x, y, z0 + lz / 2.0))


def cylinder(d: float, h: float, x: float = 0.0, y: float = 0.0, z0: float = 0.0,
             axis: str = "z", sections: int = SECTIONS) -> trimesh.Trimesh:
    """A cylinder of diameter d and length h; vertical with its bottom at z0, or along "x"/"y" centred at z0."""
    if axis == "z":
        return trimesh.creation.cylinder(radius=d / 2.0, height=h, sections=sections,
                                         transform=_translation(x, y, z0 + h / 2.0))
    rotation = trimesh.transformations.rotation_matrix(math.pi / 2, [1, 0, 0] if axis == "y" else [0, 1, 0])
    rotation[:3, 3] = (x, y, z0)
    return trimesh.creation.cylinder(radius=d / 2.0, height=h, sections=sections, transform=rotation)


def sphere(d: float, x: float = 0.0, y: float = 0.0, zc: float = 0.0, scale_z: float = 1.0,
           subdivisions: int = 2) -> trimesh.Trimesh:
    """A sphere (an ellipsoid when ``scale_z`` != 1) of diameter d centred at (x, y, zc)."""
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=d / 2.0)
    mesh.apply_transform(np.diag([1.0, 1.0, scale_z, 1.0]))
    mesh.apply_translation((x, y, zc))
    return mesh


def cone(d: float, h: float, x: float = 0.0, y: float = 0.0, z0: float = 0.0) -> trimesh.Trimesh:
    """A cone of base diameter d and height h, base at z0."""
    return trimesh.creation.cone(radius=d / 2.0, height=h, sections=SECTIONS, transform=_translation(x, y, z0))


def _translation(x: float, y: float, z: float) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = (x, y, z)
    return T


# --- generic shapes ----------------------------------------------------------------------------

def _box_kind(size, rng) -> Parts:
    return [box(*size)], []


def _cylinder_kind(size, rng) -> Parts:
    return [cylinder(*size)], []


def _sphere_kind(size, rng) -> Parts:
    return [sphere(size[0], zc=size[0] / 2.0)], []


def _cone_kind(size, rng) -> Parts:
    return [cone(*size)], []


# --- furniture ---------------------------------------------------------------------------------

def _table(size, rng) -> Parts:
    length, width, height = size
    top, leg = 0.04, 0.06
    inset_x, inset_y = length / 2 - leg, width / 2 - leg
    legs = [box(leg, leg, height - top, sx * inset_x, sy * inset_y) for sx in (-1, 1) for sy in (-1, 1)]
    return [box(length, width, top, z0=height - top)], legs


def _chair(size, rng) -> Parts:
    width, depth, height = size
    seat_z = min(0.48, 0.52 * height)
    seat = box(width, depth, 0.05, z0=seat_z - 0.05)
    back = box(width, 0.05, height - seat_z, y=-depth / 2 + 0.025, z0=seat_z)
    legs = [box(0.04, 0.04, seat_z - 0.05, sx * (width / 2 - 0.03), sy * (depth / 2 - 0.03))
            for sx in (-1, 1) for sy in (-1, 1)]
    return [seat, back], legs


def _cabinet(size, rng) -> Parts:
    length, depth, height = size
    doors = max(1, round(length / 0.5))
    handles = [box(0.02, 0.03, 0.14, -length / 2 + (k + 0.5) * length / doors + 0.08 * (-1) ** k, depth / 2 + 0.015,
                   0.75 * height - 0.07) for k in range(doors)]
    return [box(length, depth, height)], handles


def _shelf(size, rng) -> Parts:
    length, depth, height = size
    side, board = 0.03, 0.025
    boards = max(2, round(height / 0.38))
    main = [box(side, depth, height, -length / 2 + side / 2), box(side, depth, height, length / 2 - side / 2),
            box(length, 0.02, height, y=-depth / 2 + 0.01)]
    levels = [k * (height - board) / boards for k in range(boards + 1)]
    main += [box(length - 2 * side, depth, board, z0=z) for z in levels]
    books = []
    for z_low, z_high in zip(levels[:-1], levels[1:]):
        books += _books(length - 2 * side, depth * 0.75, z_low + board, z_high - z_low - board, rng)
    return main, books


def _books(span: float, depth: float, z0: float, room: float, rng: np.random.Generator) -> list:
    """A row of books along x on one shelf board; span and room (free height) in metres."""
    out, x = [], -span / 2 + 0.01
    fill = rng.uniform(0.4, 0.9) * span
    while x - (-span / 2) < fill:
        width = rng.uniform(0.02, 0.05)
        height = rng.uniform(0.55, 0.9) * room
        if x + width > span / 2 - 0.01:
            break
        out.append(box(width * 0.95, depth, height, x + width / 2, 0.0, z0))
        x += width + (rng.uniform(0.05, 0.2) if rng.random() < 0.08 else 0.0)
    return out


def _sofa(size, rng) -> Parts:
    length, depth, height = size
    arm = 0.18
    seat = box(length, depth, 0.42)
    back = box(length, 0.2, height, y=-depth / 2 + 0.1)
    arms = [box(arm, depth, 0.62, sx * (length / 2 - arm / 2)) for sx in (-1, 1)]
    cushions = [box((length - 2 * arm) / 2 - 0.02, depth - 0.25, 0.1, sx * ((length - 2 * arm) / 4), 0.1, 0.42)
                for sx in (-1, 1)]
    return [seat, back] + arms, cushions


def _door(size, rng) -> Parts:
    width, thickness, height = size
    frame = 0.06
    leaf = box(width, thickness, height)
    frames = [box(frame, thickness * 1.6, height + frame, sx * (width / 2 + frame / 2)) for sx in (-1, 1)]
    frames.append(box(width + 2 * frame, thickness * 1.6, frame, z0=height))
    handle = box(0.12, 0.05, 0.03, width / 2 - 0.12, thickness / 2 + 0.025, 1.0)
    return [leaf] + frames, [handle]


def _window(size, rng) -> Parts:
    width, thickness, height = size
    bar = 0.06
    bars = [box(width, thickness, bar), box(width, thickness, bar, z0=height - bar),
            box(bar, thickness, height, -width / 2 + bar / 2), box(bar, thickness, height, width / 2 - bar / 2),
            box(bar * 0.7, thickness, height, 0.0)]
    glass = box(width - bar, thickness * 0.5, height - bar, y=-thickness * 0.2, z0=bar / 2)
    return bars, [glass]


# --- street ------------------------------------------------------------------------------------

def _wheels(length: float, width: float, diameter: float, axles: tuple[float, ...]) -> list:
    return [cylinder(diameter, 0.24, x * length, sy * (width / 2 - 0.1), diameter / 2, axis="y")
            for x in axles for sy in (-1, 1)]


def _car(size, rng) -> Parts:
    length, width, height = size
    wheel = min(0.7, 0.42 * height)
    body = box(length, width, 0.42 * height, z0=0.22 * height)
    bonnet = box(0.2 * length, width * 0.96, 0.06 * height, 0.38 * length, 0.0, 0.64 * height)
    cabin = box(0.5 * length, width * 0.9, height * 0.36, -0.06 * length, 0.0, 0.64 * height)
    return [body, bonnet], [cabin] + _wheels(length, width, wheel, (-0.32, 0.33))


def _truck(size, rng) -> Parts:
    length, width, height = size
    wheel = min(1.0, 0.3 * height)
    chassis = box(length, width * 0.9, 0.12 * height, z0=0.18 * height)
    cargo = box(0.74 * length, width, 0.8 * height, -0.13 * length, 0.0, 0.2 * height)
    cab = box(0.21 * length, width, 0.62 * height, 0.385 * length, 0.0, 0.2 * height)
    return [chassis, cargo], [cab] + _wheels(length, width, wheel, (-0.38, -0.22, 0.38))


def _pole(size, rng) -> Parts:
    diameter, height = size
    plate = min(0.6, 0.25 * height)
    return [cylinder(diameter, height)], [box(0.03, plate, plate, 0.0, 0.0, height - plate)]


def _tree(size, rng) -> Parts:
    crown, height = size
    trunk = cylinder(max(0.08, 0.08 * crown), 0.45 * height)
    if rng.random() < 0.5:
        crown_h = 0.65 * height
        leaves = sphere(crown, zc=height - crown_h / 2, scale_z=crown_h / crown, subdivisions=2)
    else:
        leaves = cone(crown, 0.8 * height, z0=0.2 * height)
    return [leaves], [trunk]


def _person(size, rng) -> Parts:
    width, height = size
    legs = box(0.55 * width, 0.3 * width, 0.47 * height)
    torso = box(0.8 * width, 0.4 * width, 0.32 * height, z0=0.47 * height)
    arms = [box(0.1 * width, 0.22 * width, 0.34 * height, sx * 0.45 * width, 0.0, 0.45 * height) for sx in (-1, 1)]
    head = sphere(0.12 * height, zc=0.94 * height, subdivisions=1)
    return [legs, torso] + arms, [head]


# --- tabletop ----------------------------------------------------------------------------------

def _bottle(size, rng) -> Parts:
    diameter, height = size
    body = cylinder(diameter, 0.6 * height)
    shoulder = cone(diameter, 0.3 * height, z0=0.6 * height)
    neck = cylinder(0.32 * diameter, 0.2 * height, z0=0.76 * height)
    cap = cylinder(0.36 * diameter, 0.05 * height, z0=0.95 * height)
    return [body, shoulder, neck], [cap]


def _mug(size, rng) -> Parts:
    diameter, height = size
    handle = trimesh.creation.torus(major_radius=0.28 * height, minor_radius=0.05 * height, major_sections=16,
                                    minor_sections=8)
    handle.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 2, [1, 0, 0]))
    handle.apply_translation((diameter / 2, 0.0, height / 2))
    return [cylinder(diameter, height)], [handle]


KIND_BUILDERS: dict[str, Callable[[tuple, np.random.Generator], Parts]] = {
    "box": _box_kind, "cylinder": _cylinder_kind, "sphere": _sphere_kind, "cone": _cone_kind,
    "table": _table, "chair": _chair, "cabinet": _cabinet, "shelf": _shelf, "sofa": _sofa,
    "door": _door, "window": _window, "car": _car, "truck": _truck, "pole": _pole, "tree": _tree,
    "person": _person, "bottle": _bottle, "mug": _mug,
}


def build_kind(kind: str, size: tuple, rng: np.random.Generator) -> tuple[trimesh.Trimesh, trimesh.Trimesh | None]:
    """The meshes of one object in its own frame.

    Args:
        kind: a key of ``KIND_BUILDERS`` (the recipe has checked it).
        size: the kind's sizes, metres (``recipe.KIND_SIZES`` order).
        rng: generator for the kind's own variation (books, crown shape).

    Returns:
        (main, detail): the main body and the details (None when the kind has none), each
        one trimesh.Trimesh, object frame, metres.
    """
    main, detail = KIND_BUILDERS[kind](tuple(float(s) for s in size), rng)
    return _concatenate(main), (_concatenate(detail) if detail else None)


def _concatenate(meshes: list) -> trimesh.Trimesh:
    return meshes[0].copy() if len(meshes) == 1 else trimesh.util.concatenate(meshes)
