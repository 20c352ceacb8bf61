"""Markers drawn on images at the queried pixel. Styles register in ``MARKERS``."""

from datagen.registry import Registry

MARKERS: Registry = Registry("marker")
