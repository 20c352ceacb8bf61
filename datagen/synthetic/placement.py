"""Where objects may stand: floor and table areas, lanes, sidewalks, walls; and a collision check.

An object is placed by its axis-aligned bounds in its own frame (``shapes`` builds it with
the footprint centred on the origin, z up, front +y). A site draws a heading and a
position; the placement is kept when the object's world bounding box stays inside the site
and clear (by a gap) of everything placed before and of the keep-out zones around the
camera path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: Headings (radians) of objects set square to their support.
SQUARE_YAWS = (0.0, math.pi / 2, math.pi, 3 * math.pi / 2)
#: Tries before an object that does not fit is dropped.
PLACEMENT_TRIES = 40


@dataclass(frozen=True)
class Strip:
    """A rectangle of support (a floor, a lane, a sidewalk, a table top).

    Attributes:
        bounds: (xmin, ymin, xmax, ymax) in the world, metres.
        z_m: height of the supporting surface, metres.
        yaws: headings an "aligned" object may take, radians (local +y turned toward them).
    """

    bounds: tuple
    z_m: float = 0.0
    yaws: tuple = SQUARE_YAWS

    @property
    def area(self) -> float:
        xmin, ymin, xmax, ymax = self.bounds
        return max(xmax - xmin, 0.0) * max(ymax - ymin, 0.0)


@dataclass(frozen=True)
class WallSegment:
    """The inner face of a wall: from (x0, y0) to (x1, y1), with the room on the side of ``normal``."""

    start: tuple
    end: tuple
    normal: tuple
    z_m: float = 0.0

    @property
    def length(self) -> float:
        return float(np.hypot(self.end[0] - self.start[0], self.end[1] - self.start[1]))


@dataclass(frozen=True)
class Site:
    """A named placement: strips or wall segments, and the highest point an object may reach."""

    strips: tuple = ()
    walls: tuple = ()
    z_max_m: float = math.inf


@dataclass
class Occupancy:
    """World boxes already taken (placed objects and keep-out zones), each (2, 3) [min, max] metres."""

    gap_m: float
    boxes: list = field(default_factory=list)

    def is_free(self, box: np.ndarray) -> bool:
        lo, hi = box[0] - self.gap_m, box[1] + self.gap_m
        return all(np.any(hi <= other[0]) or np.any(lo >= other[1]) for other in self.boxes)

    def add(self, box: np.ndarray) -> None:
        self.boxes.append(np.asarray(box, dtype=np.float64))


def yaw_matrix(yaw: float, translation=(0.0, 0.0, 0.0)) -> np.ndarray:
    """(4, 4) rotation by ``yaw`` about world z followed by ``translation``."""
    c, s = math.cos(yaw), math.sin(yaw)
    T = np.array([[c, -s, 0.0, 0.0], [s, c, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    T[:3, 3] = translation
    return T


def rotated_bounds(local: np.ndarray, yaw: float) -> np.ndarray:
    """(2, 3) axis-aligned bounds of the local box ``local`` (2, 3) turned by ``yaw`` about z."""
    corners = np.array([[x, y, z] for x in local[:, 0] for y in local[:, 1] for z in local[:, 2]])
    turned = corners @ yaw_matrix(yaw)[:3, :3].T
    return np.stack([turned.min(axis=0), turned.max(axis=0)])


def place(site: Site, local: np.ndarray, elevation_m: float, free_yaw: bool, occupancy: Occupancy,
          rng: np.random.Generator) -> np.ndarray | None:
    """Find a pose for an object, or None when no try fits.

    Args:
        site: where it may stand.
        local: (2, 3) bounds of the object in its own frame, metres.
        elevation_m: height of its bottom above the support, metres.
        free_yaw: any heading (else the site's headings).
        occupancy: boxes to stay clear of; the chosen box is added to it.
        rng: generator.

    Returns:
        (4, 4) T_world_object, or None.
    """
    if not site.walls and not any(s.area > 0 for s in site.strips):
        return None  # e.g. a street without parking strips
    for _ in range(PLACEMENT_TRIES):
        T = _draw_on_walls(site, local, rng) if site.walls else _draw_on_strips(site, local, free_yaw, rng)
        if T is None:
            continue
        T[2, 3] += elevation_m
        box = rotated_bounds(local, _yaw_of(T)) + T[:3, 3]
        if box[1, 2] <= site.z_max_m - 0.02 and occupancy.is_free(box):
            occupancy.add(box)
            return T
    return None


def _yaw_of(T: np.ndarray) -> float:
    return math.atan2(T[1, 0], T[0, 0])


def _pick(weights: list[float], rng: np.random.Generator) -> int:
    weights = np.asarray(weights, dtype=np.float64)
    return int(rng.choice(len(weights), p=weights / weights.sum()))


def _draw_on_strips(site: Site, local: np.ndarray, free_yaw: bool, rng: np.random.Generator) -> np.ndarray | None:
    strip = site.strips[_pick([s.area for s in site.strips], rng)]
    yaw = float(rng.uniform(0.0, 2 * math.pi)) if free_yaw else float(strip.yaws[int(rng.integers(len(strip.yaws)))])
    box = rotated_bounds(local, yaw)
    xmin, ymin, xmax, ymax = strip.bounds
    lo_x, hi_x = xmin - box[0, 0], xmax - box[1, 0]
    lo_y, hi_y = ymin - box[0, 1], ymax - box[1, 1]
    if lo_x > hi_x or lo_y > hi_y:
        return None
    return yaw_matrix(yaw, (rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y), strip.z_m))


def _draw_on_walls(site: Site, local: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """Back (local -y) against a wall, front facing into the room, along the wall at random."""
    wall = site.walls[_pick([w.length for w in site.walls], rng)]
    nx, ny = wall.normal
    yaw = math.atan2(-nx, ny)  # turns local +y onto the wall's normal
    start, end = np.asarray(wall.start, dtype=np.float64), np.asarray(wall.end, dtype=np.float64)
    along = (end - start) / wall.length
    # Local x runs along the wall (either way round); keep the object's extent inside the segment.
    reach = max(abs(local[0, 0]), abs(local[1, 0]))
    if 2 * reach > wall.length:
        return None
    s = rng.uniform(reach, wall.length - reach)
    centre = start + s * along - local[0, 1] * np.asarray(wall.normal)  # back face on the wall line
    return yaw_matrix(yaw, (centre[0], centre[1], wall.z_m))
