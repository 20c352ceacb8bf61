"""The ``synthetic`` source: datagen's own scenes, built from the recipes in ``scenes/*.yaml``.

Needs nothing downloaded. Each frame is rendered on demand: a colour image, a dense
optical-axis depth map from the mesh (exact ground truth, NaN where no surface), and a
simulated LiDAR sweep from a sensor mounted on the camera. Frame ids read
``synthetic/<recipe>/<scene>/<frame:06d>``; the same id gives byte-identical frames on any
machine and in any order of calls, because every random draw is seeded from the recipe's
seed, the source's ``seed`` and the scene index (never from call order or ``hash()``).

A user adds a scene family variant by dropping a new recipe YAML (of a known family) into
the ``root`` folder; no code is needed.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from datagen.errors import ConfigError, SourceError
from datagen.resources import scenes_dir
from datagen.sources import register
from datagen.sources._cache import LruCache
from datagen.sources._tables import check_count, check_number, optional_paths
from datagen.sources.base import Source
from datagen.synthetic.recipe import Recipe, load_recipes
from datagen.types import Frame

logger = logging.getLogger(__name__)

NAME = "synthetic"


@register(NAME)
class SyntheticSource(Source):
    """Renders the frames of datagen's synthetic scene recipes."""


    @dataclass(frozen=True)
    class Config:
        """Options of the synthetic source.

        Attributes:
            root: folder of recipe YAML files; None = the bundled ``scenes/``.
            recipes: names (file stems) of the recipes to use; None = all in ``root``.
            renderer: registered renderer that draws the frames ("raycast" or "pyrender").
            seed: mixed into every recipe's seed (0 = the scenes as the recipes write them).
            camera_preset: a rig of ``datagen.synthetic.rigs.RIG_PRESETS`` ("wide": 300-2500 px focal
                lengths on 640x480 to 1920x1216 images) used instead of every recipe's own; None = recipes'.
            image_scale: resize every camera by this factor (same field of view, fewer pixels), in (0, 4].
            sequences: scenes per recipe instead of the recipe's ``sequences``; None = the recipe's.
            frames_per_sequence: frames per scene instead of the recipe's ``path.frames``; None = the recipe's.
            lidar: simulate the LiDAR sweep (``Frame.points``); False gives the depth map only.
            cache_scenes: how many built scenes to keep in memory (per source instance), >= 1.
        """

        root: Path | None = None
        recipes: tuple[str, ...] | None = None
        renderer: str = "raycast"
        seed: int = 0
        camera_preset: str | None = None
        image_scale: float = 1.0
        sequences: int | None = None
        frames_per_sequence: int | None = None
        lidar: bool = True
        cache_scenes: int = 4

        def __post_init__(self) -> None:
            optional_paths(self, "root")
            if isinstance(self.recipes, str):
                object.__setattr__(self, "recipes", tuple(p.strip() for p in self.recipes.split(",") if p.strip()))
            elif self.recipes is not None:
                object.__setattr__(self, "recipes", tuple(self.recipes))
            check_count(NAME, "seed", self.seed, 0)
            check_count(NAME, "cache_scenes", self.cache_scenes)
            for name in ("sequences", "frames_per_sequence"):
                if getattr(self, name) is not None:
                    check_count(NAME, name, getattr(self, name))
            check_number(NAME, "image_scale", self.image_scale, 0.0, 4.0)
            if self.camera_preset is not None:
                from datagen.synthetic.rigs import RIG_PRESETS

                if self.camera_preset not in RIG_PRESETS:
                    raise ConfigError(f"synthetic source: camera_preset must be one of {', '.join(RIG_PRESETS)} "
                                      f"or empty (the recipes' own), got {self.camera_preset!r}")

    def __init__(self, config: "SyntheticSource.Config | None" = None) -> None:
        super().__init__(config)
        root = self.config.root if self.config.root is not None else scenes_dir()
        self.recipes: dict[str, Recipe] = {r.name: self._override(r) for r in load_recipes(root, self.config.recipes)}
        self._scenes: LruCache = LruCache(self.config.cache_scenes)
        self._renderer = None

    def _override(self, recipe: Recipe) -> Recipe:
        """The recipe with this source's sequence and frame counts, where set."""
        if self.config.sequences is not None:
            recipe = dataclasses.replace(recipe, sequences=self.config.sequences)
        if self.config.frames_per_sequence is not None:
            recipe = dataclasses.replace(recipe, path=dataclasses.replace(recipe.path,
                                                                          frames=self.config.frames_per_sequence))
        return recipe

    def frame_ids(self) -> list[str]:
        """Whole sequences, round-robin over the recipes (sorted by name): scene 0 of each, then 1...

        So the first few sequences' worth of frames covers every family.
        """
        recipes = sorted(self.recipes.values(), key=lambda r: r.name)
        out = []
        for index in range(max(r.sequences for r in recipes)):
            for recipe in recipes:
                if index < recipe.sequences:
                    out += [frame_id(recipe.name, index, f) for f in range(recipe.frames_per_sequence)]
        return out

    def load_frame(self, frame_id: str) -> Frame:
        """Build (or reuse) the frame's scene and render the frame; see the module docstring."""
        recipe, index, frame = self._parse_id(frame_id)
        built = self.scene(recipe.name, index)
        camera = built.cameras[frame]
        # 1. Colour and exact optical-axis depth through the camera's own lens model.
        result = self._get_renderer().render(built.scene, camera, color=True)
        # 2. The LiDAR sweep, in the LiDAR frame; T_cam_points = T_cam_lidar.
        points = self._lidar(built, frame) if recipe.lidar.enabled and self.config.lidar else None
        return Frame(frame_id=frame_id, source=NAME, camera=camera, image=result.color, points=points,
                     T_cam_points=built.T_cam_lidar, depth_m=result.z_m, depth_kind="z", mesh=built.scene,
                     sequence=f"{recipe.name}/{index}", timestamp_s=float(built.path.timestamps_s[frame]),
                     meta=self._meta(built, frame))

    def scene(self, recipe_name: str, index: int):
        """The built scene ``index`` of a recipe (a ``SyntheticScene``), cached per source instance."""
        from datagen.synthetic.builders import build_scene
        from datagen.synthetic.rigs import RIG_PRESETS

        rig = RIG_PRESETS[self.config.camera_preset] if self.config.camera_preset else None
        return self._scenes.get((recipe_name, index), lambda: build_scene(
            self.recipes[recipe_name], index, extra_seed=self.config.seed, rig=rig,
            image_scale=float(self.config.image_scale)))

    def _parse_id(self, frame_id: str) -> tuple[Recipe, int, int]:
        parts = frame_id.split("/") if isinstance(frame_id, str) else []
        ok = len(parts) == 4 and parts[0] == NAME and parts[2].isdigit() and parts[3].isdigit()
        if not ok:
            raise SourceError(f"synthetic: frame id {frame_id!r} is not 'synthetic/<recipe>/<scene>/<frame>'")
        recipe = self.recipes.get(parts[1])
        if recipe is None:
            raise SourceError(f"synthetic: frame id {frame_id!r}: unknown recipe {parts[1]!r}; "
                              f"known: {', '.join(sorted(self.recipes))}")
        index, frame = int(parts[2]), int(parts[3])
        if index >= recipe.sequences or frame >= recipe.frames_per_sequence:
            raise SourceError(f"synthetic: frame id {frame_id!r}: recipe {recipe.name!r} ({recipe.file}) has "
                              f"scenes 0-{recipe.sequences - 1} of frames 0-{recipe.frames_per_sequence - 1}")
        return recipe, index, frame

    def _get_renderer(self):
        if self._renderer is None:
            from datagen.render.base import get_renderer

            self._renderer = get_renderer(self.config.renderer)
        return self._renderer

    def _lidar(self, built, frame: int):
        """(N, 3) float32 LiDAR points of one frame, LiDAR frame; noise seeded per scene and frame."""
        from datagen.render.lidar import LidarConfig, simulate_lidar
        from datagen.synthetic.builders import LIDAR, stream

        spec = built.recipe.lidar
        config = LidarConfig(beams=spec.beams, vertical_fov_deg=(spec.vertical_fov_deg.lo, spec.vertical_fov_deg.hi),
                             azimuth_steps=spec.azimuth_steps, max_range_m=spec.max_range_m,
                             min_range_m=spec.min_range_m, range_noise_m=spec.range_noise_m, dropout=spec.dropout)
        T_world_lidar = built.cameras[frame].T_world_cam @ built.T_cam_lidar
        rng = stream(built.recipe, self.config.seed, built.index, LIDAR, frame)
        return simulate_lidar(built.scene, T_world_lidar, config, rng)

    def _meta(self, built, frame: int) -> dict:
        recipe = built.recipe
        return {"recipe": recipe.name, "family": recipe.family, "scene": built.index, "frame": frame,
                "seed": list(built.seed), "recipe_file": str(recipe.file), "depth_from": "mesh",
                "renderer": self.config.renderer, "lidar_frame": "x forward, y left, z up"}


def frame_id(recipe: str, index: int, frame: int) -> str:
    """``synthetic/<recipe>/<scene>/<frame:06d>``."""
    return f"{NAME}/{recipe}/{index}/{frame:06d}"
