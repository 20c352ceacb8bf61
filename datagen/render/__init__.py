"""Registry of renderers; REGISTRY.load_builtins() imports the built-in ones so they register."""

from datagen.registry import Registry

REGISTRY: Registry = Registry("renderer", package=__name__)
register = REGISTRY.register

# The interface and factory; the backends (raycast, pyrender) register on REGISTRY.load_builtins().
from datagen.render.base import Renderer, RenderResult, get_renderer  # noqa: E402

__all__ = ["REGISTRY", "RenderResult", "Renderer", "get_renderer", "register"]
