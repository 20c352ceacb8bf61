"""Errors raised by datagen. Every message names the file or object and what was expected."""

import errno

#: errno values of an OSError that is the machine's, not the file's: reading again later may succeed.
MACHINE_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EIO, errno.ENOMEM, errno.EMFILE, errno.ENFILE,
                            errno.ESTALE, errno.ETIMEDOUT, errno.EAGAIN, errno.EINTR})


def is_machine_fault(exc: BaseException) -> bool:
    """Whether an error met while reading an input file is the machine's (permissions, I/O, memory),
    so the build must stop and be resumed rather than skip the frame for good."""
    return isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno in MACHINE_ERRNOS)


def raise_if_machine_fault(exc: BaseException) -> None:
    """Re-raise ``exc`` if it is the machine's; a reader then turns what is left into a SourceError."""
    if is_machine_fault(exc):
        raise exc


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
