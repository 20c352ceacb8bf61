"""Registry of sources; REGISTRY.load_builtins() imports the built-in ones so they register."""

from datagen.registry import Registry

REGISTRY: Registry = Registry("source", package=__name__)
register = REGISTRY.register
