"""Synthetic scenes: recipes (``scenes/*.yaml``) made into concrete scenes with camera sequences.

Modules, in the order a scene is made:

* ``schema``: typed YAML reading (``Range``, ``IntRange``, ``RGB``...) with errors that name the field.
* ``recipe``: the recipe dataclasses, families and object kinds; ``load_recipe``, ``load_recipes``.
* ``shapes``: object kinds built from trimesh primitives.
* ``placement``: floor, wall, lane, sidewalk and table sites; collision-free placement.
* ``rigs``: intrinsics draws, look-at poses (OpenCV axes), walks, drives, orbits, the LiDAR mount.
* ``builders``: ``build_scene(recipe, index)``, the room, street and tabletop layouts.

The ``synthetic`` source (``datagen.sources.synthetic``) renders their frames. Importing this
package is light; ``shapes`` and ``builders`` import trimesh.
"""
