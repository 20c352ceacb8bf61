"""Errors of scoring: each message names the file (and line) and what was expected."""

from __future__ import annotations

from datagen.errors import DatagenError


class ScoringError(DatagenError):
    """Predictions or reference records cannot be scored (bad file, bad argument)."""


class PredictionsError(ScoringError):
    """A predictions file holds nothing that can be scored (empty, every line broken, no id of the build)."""
