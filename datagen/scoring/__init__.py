"""Scoring model answers against a build: answer parsing, δ metrics, per-group reports, tables.

One module per concern, each usable alone:

* :mod:`~datagen.scoring.parsing` (with :mod:`~datagen.scoring.quantities` and
  :mod:`~datagen.scoring.units`): :func:`parse_answer` turns a model's raw output into the
  number it means, in the task's base unit (``m``, ``m/s`` or ``s``), or says why it cannot.
* :mod:`~datagen.scoring.metrics`: :func:`compute_metrics` turns predicted and true values
  into δ1/δ2/δ3, AbsRel, RMSE, log10 error and parse counts, with a bootstrap interval on δ1.
* :mod:`~datagen.scoring.reference`, :mod:`~datagen.scoring.predictions` and
  :mod:`~datagen.scoring.matching`: :func:`load_reference` and :func:`read_predictions`
  read a build and a predictions JSONL file; :func:`match_predictions` parses each answer
  with its record's unit.
* :mod:`~datagen.scoring.reports`: :func:`score_predictions` reports per task, source,
  depth range and value range; :func:`format_table` lays several reports side by side.

The rules (which number is "the answer", how misses count) are written out in
``docs/scoring.md``; the short version: an answer that cannot be parsed, is missing,
or is not positive counts as a miss for δ and is left out of the error metrics.
"""

from datagen.scoring.errors import PredictionsError, ScoringError
from datagen.scoring.matching import Matched, match_predictions
from datagen.scoring.metrics import (
    DEFAULT_DEPTH_BINS,
    DELTA_BASE,
    MAX_BOOTSTRAP,
    Metrics,
    assign_depth_bins,
    bootstrap_delta1_ci,
    check_depth_bins,
    compute_metrics,
    depth_bin_labels,
)
from datagen.scoring.parsing import (
    AMBIGUOUS,
    EMPTY,
    EXPRESSION,
    NO_NUMBER,
    NOT_FINITE,
    NUMBER_WORDS,
    OK,
    RANGE,
    REASONS,
    TOO_LONG,
    WRONG_UNIT,
    ParsedAnswer,
    parse_answer,
    parse_answers,
    parse_value,
)
from datagen.scoring.predictions import OUTPUT_KEYS, Predictions, completion_text, output_text, read_predictions
from datagen.scoring.reference import DEPTH_TASKS, TASK_UNITS, Reference, load_reference
from datagen.scoring.reports import (
    FIRST_FEW,
    IdSample,
    ScoreReport,
    format_table,
    reports_to_json,
    score_files,
    score_predictions,
)
from datagen.scoring.units import BASE_UNITS

__all__ = [
    "AMBIGUOUS", "BASE_UNITS", "DEFAULT_DEPTH_BINS", "DELTA_BASE", "DEPTH_TASKS", "EMPTY", "EXPRESSION",
    "FIRST_FEW", "IdSample", "MAX_BOOTSTRAP", "Matched", "Metrics", "NOT_FINITE", "NO_NUMBER", "NUMBER_WORDS", "OK",
    "OUTPUT_KEYS", "ParsedAnswer", "Predictions", "PredictionsError", "RANGE", "REASONS", "Reference", "ScoreReport",
    "ScoringError", "TASK_UNITS", "TOO_LONG", "WRONG_UNIT", "assign_depth_bins", "bootstrap_delta1_ci",
    "check_depth_bins", "completion_text", "compute_metrics", "depth_bin_labels", "format_table", "load_reference",
    "match_predictions", "output_text", "parse_answer", "parse_answers", "parse_value", "read_predictions",
    "reports_to_json", "score_files", "score_predictions",
]
