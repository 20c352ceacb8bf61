"""Where the bundled templates and scene recipes live, in a checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _bundled(name: str) -> Path:
    installed = _PACKAGE_DIR / "_data" / name  # a wheel carries them inside the package
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / name  # a checkout or an editable install


def templates_dir() -> Path:
    """Folder of the bundled question/answer templates (one YAML file per task)."""
    return _bundled("templates")


def scenes_dir() -> Path:
    """Folder of the bundled synthetic scene recipes."""
    return _bundled("scenes")
