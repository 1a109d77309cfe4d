"""Finding input tables on disk and writing outputs atomically."""

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from leadq.core.errors import BadInputError

TABLE_SUFFIXES = (".parquet", ".csv")


def find_table(data_dir: Path, name: str) -> tuple[list[Path], str]:
    """Locate table `name` in `data_dir` as NAME.parquet, NAME.csv or a folder NAME/ of such files.

    Returns the files and their format ("parquet" or "csv").
    """
    data_dir = Path(data_dir)
    for suffix in TABLE_SUFFIXES:
        path = data_dir / f"{name}{suffix}"
        if path.is_file():
            return [path], suffix.lstrip(".")
    folder = data_dir / name
    if folder.is_dir():
        for suffix in TABLE_SUFFIXES:
            files = sorted(p for p in folder.rglob(f"*{suffix}") if p.is_file())
            if files:
                return files, suffix.lstrip(".")
        raise BadInputError(f"{folder}: folder for table '{name}' holds no .parquet or .csv files (0 rows)")
    raise BadInputError(
        f"{data_dir}: table '{name}' not found (looked for {name}.parquet, {name}.csv, {name}/; 0 rows)"
    )


@contextmanager
def atomic_path(final_path: Path):
    """Yield a temporary path beside `final_path`; rename it into place only if the block succeeds."""
    final_path = Path(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final_path.name}.", suffix=".tmp", dir=final_path.parent)
    os.close(fd)
    tmp_path = Path(tmp_name)
    try:
        yield tmp_path
        os.replace(tmp_path, final_path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write `frame` as CSV or Parquet by the file's extension, atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise BadInputError(f"{path}: output must end in .csv or .parquet")
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return path
