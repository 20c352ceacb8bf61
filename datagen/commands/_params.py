"""Click parameter types shared by the subcommands."""

from __future__ import annotations

from pathlib import Path

import click

from datagen.records import NotABuildError


class BuildDir(click.ParamType):
    """A build folder on this machine; an object store URL is refused with what to do instead."""

    name = "BUILD_DIR"

    def convert(self, value, param, ctx) -> Path:
        from datagen.store import is_url

        if isinstance(value, Path):
            return value
        if is_url(value):
            local = str(value).rstrip("/").rsplit("/", 1)[-1] or "build"
            raise NotABuildError(f"{value}: datagen reads builds back only from a folder, not from object storage; "
                                 f"copy it first (aws s3 sync {value} ./{local}, or any copy tool) and run the "
                                 f"command on ./{local}")
        return Path(value)


BUILD_DIR = BuildDir()
