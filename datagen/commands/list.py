"""``datagen list sources|tasks|writers|markers|renderers``: what the registries know."""

from __future__ import annotations

import importlib

import click

_REGISTRIES = {
    "sources": ("datagen.sources", "REGISTRY"),
    "tasks": ("datagen.tasks", "REGISTRY"),
    "writers": ("datagen.writers", "REGISTRY"),
    "renderers": ("datagen.render", "REGISTRY"),
    "markers": ("datagen.markers", "MARKERS"),
}


def registry_for(kind: str):
    module_name, attribute = _REGISTRIES[kind]
    registry = getattr(importlib.import_module(module_name), attribute)
    return registry.load_builtins()


@click.command("list")
@click.argument("kind", type=click.Choice(sorted(_REGISTRIES)))
def command(kind: str) -> None:
    """List the registered sources, tasks, writers, renderers or markers."""
    names = registry_for(kind).names()
    if not names:
        click.echo(f"(no {kind} registered)")
    for name in names:
        click.echo(name)
