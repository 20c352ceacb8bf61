"""Errors raised by datagen. Every message names the file or object and what was expected."""


class DatagenError(Exception):
    """Base class of every error datagen raises on purpose."""


class ConfigError(DatagenError):
    """A configuration file, recipe or option is malformed."""


class CameraError(DatagenError):
    """A camera is invalid (non-positive focal length, non-finite value, bad shape)."""


class GeometryError(DatagenError):
    """Geometric input is invalid (wrong matrix shape, non-rigid transform)."""


class SourceError(DatagenError):
    """A dataset file is missing or does not follow its documented format."""


class TemplateError(DatagenError):
    """A question/answer template is malformed or references an unknown field."""


class RegistryError(DatagenError, KeyError):
    """An unknown or duplicate name in a registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(DatagenError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""
