"""Matching predictions to reference records: each output parsed with its record's unit, laid out by row."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from datagen.scoring.errors import PredictionsError
from datagen.scoring.parsing import REASONS, parse
from datagen.scoring.predictions import Predictions
from datagen.scoring.reference import Reference
from datagen.scoring.units import BASE_UNITS

#: How many ids an error message quotes.
_QUOTED = 3


@dataclass(frozen=True, eq=False)
class Matched:
    """Predictions parsed and laid out by reference row.

    Attributes:
        values: (N,) float64 parsed answers in each record's base unit; NaN where none.
        answered: (N,) bool, the record has a prediction.
        reason_codes: (N,) int8 index into :data:`REASONS`; -1 where no prediction.
        unknown: prediction ids that are not records of the build, in file order.
    """

    values: np.ndarray
    answered: np.ndarray
    reason_codes: np.ndarray
    unknown: list[str]


def match_predictions(predictions: Predictions, reference: Reference) -> Matched:
    """Parse every prediction with its record's unit as hint and place it on the record's row.

    Raises:
        PredictionsError: no prediction id is a record of the build (a file of another build).
    """
    index = reference.index
    hints = [unit if unit in BASE_UNITS else None for unit in reference.unit_names]
    unit_codes = reference.unit_codes.tolist()
    reason_index = {reason: i for i, reason in enumerate(REASONS)}
    rows, values, reasons, unknown = [], [], [], []
    for record_id, output in zip(predictions.ids, predictions.outputs):
        row = index.get(record_id)
        if row is None:
            unknown.append(record_id)
            continue
        value, reason, _ = parse(output, hints[unit_codes[row]])
        rows.append(row)
        values.append(math.nan if value is None else value)
        reasons.append(reason_index[reason])
    if not rows and unknown:
        quoted = ", ".join(repr(record_id[:80]) for record_id in unknown[:_QUOTED])
        raise PredictionsError(f"{predictions.path}: none of its {len(unknown)} ids is a record of the build "
                               f"{reference.path} (first: {quoted}); is it the build the model answered?")
    n = len(reference)
    out = Matched(np.full(n, np.nan), np.zeros(n, dtype=bool), np.full(n, -1, dtype=np.int8), unknown)
    rows = np.asarray(rows, dtype=np.int64)
    out.values[rows], out.answered[rows], out.reason_codes[rows] = values, True, reasons
    return out
