"""Reading and writing transaction histories (CSV, Parquet)."""

from fraudstream.io.files import FrameWriter, labels_path_for, read_frame, write_frame

__all__ = ["FrameWriter", "labels_path_for", "read_frame", "write_frame"]
