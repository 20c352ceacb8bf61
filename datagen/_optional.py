"""Import of optional heavy dependencies, failing on first use with the pip command to run."""

from __future__ import annotations

import importlib
from types import ModuleType

from datagen.errors import MissingDependencyError


def require(module: str, extra: str | None, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise MissingDependencyError naming the extra (or package) that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pkg = package or module.split(".")[0]
        target = f"'datagen[{extra}]'" if extra else pkg
        raise MissingDependencyError(
            f"{pkg} is needed for this feature but could not be imported ({exc}); "
            f"install it with: pip install {target}"
        ) from exc
