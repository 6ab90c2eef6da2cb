"""Tabular files by extension: Parquet (.parquet, .pq) or CSV (.csv, .csv.gz)."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "FrameWriter",
    "UnsupportedFormatError",
    "file_format",
    "labels_path_for",
    "read_frame",
    "write_frame",
]

_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".csv.gz")
# ISO 8601 in UTC, readable by every CSV consumer.
_CSV_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class UnsupportedFormatError(ValueError):
    pass


def file_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(_PARQUET):
        return "parquet"
    if name.endswith(_CSV):
        return "csv"
    raise UnsupportedFormatError(f"{path}: use a .parquet, .csv or .csv.gz file name")


def labels_path_for(path: Path) -> Path:
    """Where the labels of a transactions file go: world.parquet -> world.labels.parquet."""
    name = path.name
    for suffix in (".csv.gz", *_PARQUET, ".csv"):
        if name.lower().endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".labels" + suffix)
    raise UnsupportedFormatError(f"{path}: use a .parquet, .csv or .csv.gz file name")


def read_frame(path: Path, **csv_options: Any) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if file_format(path) == "parquet":
        return pd.read_parquet(path)
    frame: pd.DataFrame = pd.read_csv(path, **csv_options)
    return frame


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    with FrameWriter(path) as writer:
        writer.write(frame)


class FrameWriter:
    """Appends frames with the same columns to one file, so large outputs stream to disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.format = file_format(path)
        self.rows = 0
        self._parquet: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._empty: pd.DataFrame | None = None  # held back until a frame with rows comes

    def __enter__(self) -> FrameWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self

    def write(self, frame: pd.DataFrame) -> None:
        if self.format == "parquet":
            # An empty frame's column types are pandas' guesses (an id column without rows
            # is float): the file takes its schema from the first frame with rows.
            if frame.empty and self._parquet is None:
                self._empty = frame
                return
            table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
            if self._parquet is None:
                self._schema = table.schema
                self._parquet = pq.ParquetWriter(self.path, table.schema, compression="zstd")
            self._parquet.write_table(table)
        else:
            frame.to_csv(
                self.path,
                mode="w" if self.rows == 0 else "a",
                header=self.rows == 0,
                index=False,
                date_format=_CSV_DATE_FORMAT,
            )
        self.rows += len(frame)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._parquet is None and self._empty is not None and exc is None:
            self._empty.to_parquet(self.path, index=False)  # nothing but empty frames: an empty file
        if self._parquet is not None:
            self._parquet.close()
