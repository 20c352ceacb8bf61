"""Registry of writers; REGISTRY.load_builtins() imports the built-in ones so they register."""

from datagen.registry import Registry

REGISTRY: Registry = Registry("writer", package=__name__)
register = REGISTRY.register
