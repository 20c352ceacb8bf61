"""Parquet with the images embedded, in the layout of Hugging Face ``datasets`` (self-contained).

One file per split, ``<split>.parquet``, one row per record, written in row groups of at
most ``ROW_GROUP_ROWS`` rows or ``ROW_GROUP_BYTES`` bytes of images, so memory holds one
row group at a time. Columns:

==========  ======================================  ==========================================
column      Arrow type                              datasets feature
==========  ======================================  ==========================================
id          string                                  Value("string")
task        string                                  Value("string")
split       string                                  Value("string")
images      list<struct<bytes: binary, path: str>>  Sequence(Image()): the encoded file + its
                                                    path relative to the build folder
question    string                                  Value("string")
answer      string                                  Value("string")
value       double                                  Value("float64"), full precision
unit        string                                  Value("string")
label_json  string                                  Value("string"): the canonical label as JSON
camera      list<double>                            Sequence(Value("float64")):
                                                    [fx, fy, cx, cy, width, height]
source      string                                  Value("string"): provenance.source
==========  ======================================  ==========================================

The schema carries the features under the ``huggingface`` metadata key, so
``load_dataset("parquet", data_files=...)`` decodes ``images`` to PIL images with no cast.
The features use ``Sequence``, which datasets reads both before and after 4.0 (where it
became ``List``). Writes with pyarrow (a core dependency).
"""

from __future__ import annotations

import json
from pathlib import Path

from datagen import ownership
from datagen._optional import require
from datagen.writers import register
from datagen.writers.base import Writer

ROW_GROUP_ROWS = 100
ROW_GROUP_BYTES = 32 * 1024 * 1024

_STRING = {"dtype": "string", "_type": "Value"}
HF_FEATURES = {
    "id": _STRING, "task": _STRING, "split": _STRING,
    "images": {"feature": {"_type": "Image"}, "_type": "Sequence"},
    "question": _STRING, "answer": _STRING,
    "value": {"dtype": "float64", "_type": "Value"}, "unit": _STRING,
    "label_json": _STRING,
    "camera": {"feature": {"dtype": "float64", "_type": "Value"}, "_type": "Sequence"},
    "source": _STRING,
}


def arrow_schema():
    """The pyarrow schema of the file, with the datasets features in its metadata."""
    pa = require("pyarrow", "parquet")
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    fields = [("id", pa.string()), ("task", pa.string()), ("split", pa.string()), ("images", pa.list_(image)),
              ("question", pa.string()), ("answer", pa.string()), ("value", pa.float64()), ("unit", pa.string()),
              ("label_json", pa.string()), ("camera", pa.list_(pa.float64())), ("source", pa.string())]
    metadata = {"huggingface": json.dumps({"info": {"features": HF_FEATURES}})}
    return pa.schema(fields, metadata=metadata)


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


class ParquetSink:
    """Streams rows into a Parquet file, one row group at a time, through a temporary file."""

    def __init__(self, path: Path) -> None:
        self.pa = require("pyarrow", "parquet")
        self.pq = require("pyarrow.parquet", "parquet", package="pyarrow")
        self.path = path
        self.tmp = ownership.tmp_path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        ownership.check_replaceable(path)
        self.schema = arrow_schema()
        self.writer = self.pq.ParquetWriter(str(self.tmp), self.schema)
        self.buffer: list[dict] = []
        self.buffered_bytes = 0

    def write(self, row: dict) -> None:
        self.buffer.append(row)
        self.buffered_bytes += sum(len(image["bytes"]) for image in row["images"])
        if len(self.buffer) >= ROW_GROUP_ROWS or self.buffered_bytes >= ROW_GROUP_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one row group."""
        if self.buffer:
            table = self.pa.Table.from_pylist(self.buffer, schema=self.schema)
            self.writer.write_table(table, row_group_size=len(self.buffer))
            self.buffer, self.buffered_bytes = [], 0

    def close(self) -> None:
        self.flush()
        self.writer.close()
        ownership.commit(self.tmp, self.path)

    def abort(self) -> None:
        self.buffer = []
        self.writer.close()
        self.tmp.unlink(missing_ok=True)


@register("parquet")
class ParquetWriter(Writer):
    """Self-contained Parquet (images embedded) that ``datasets.load_dataset("parquet")`` decodes."""

    name = "parquet"
    suffix = ".parquet"
    sink_class = ParquetSink

    def to_row(self, record: dict) -> dict:
        images = [{"bytes": read_bytes(self.image_file(image)), "path": image} for image in record["images"]]
        return {
            "id": record["id"], "task": record["task"], "split": record["split"], "images": images,
            "question": record["question"], "answer": record["answer"], "value": float(record["value"]),
            "unit": record["unit"], "label_json": json.dumps(record["label"], ensure_ascii=False),
            "camera": [float(x) for x in record["camera"]], "source": record["provenance"]["source"],
        }
