"""Finding input tables on disk and writing outputs safely.

Inputs: a table is `NAME.parquet`, `NAME.csv` or a folder `NAME/` of parts of one format. Two
candidates for the same table (`leads.parquet` beside `leads.csv`, a file beside a folder, a
folder mixing `.parquet` and `.csv` parts) are refused rather than one silently winning.
Hidden and `_`-prefixed files in a folder (`_SUCCESS`, `.crc`, temporaries) are not parts.

Outputs (see `atomic_paths`):

- never an input: an output that resolves to an input file, or lies inside an input table's
  folder, or would become a second candidate for a table, is refused before any work;
- all or nothing: every file of one result (scores and their `.report.json`) is written to a
  temporary beside its final name, and only when all were written are they renamed into place;
  a failure removes the temporaries and leaves the previous outputs as they were;
- temporaries are named `.NAME.PID@HOST.RANDOM.tmp`; those of a process of this host that is no
  longer running (a killed run) are removed the next time NAME is written;
- modes: a new file gets the usual mode for the process's umask (0666 & ~umask, as `open`
  gives), a replaced file keeps its mode;
- CSV cells of text columns that a spreadsheet would run as a formula (starting with `=`, `+`,
  `-`, `@`, tab or carriage return, and not a plain number) are prefixed with `'` (OWASP's
  rule). Parquet is written untouched.
"""

import os
import re
import socket
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from leadq.core.errors import BadInputError, LeadqError

TABLE_SUFFIXES = (".parquet", ".csv")
TEMP_SUFFIX = ".tmp"
FORMULA_START = re.compile(r"^[=+\-@\t\r]")
PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _is_part(path: Path) -> bool:
    return path.is_file() and not path.name.startswith((".", "_"))


def _parts(folder: Path) -> dict[str, list[Path]]:
    return {suffix: sorted(p for p in folder.rglob(f"*{suffix}") if _is_part(p)) for suffix in TABLE_SUFFIXES}


def find_table(data_dir: Path, name: str) -> tuple[list[Path], str]:
    """Locate table `name` in `data_dir` as NAME.parquet, NAME.csv or a folder NAME/ of such files.

    Returns the files and their format ("parquet" or "csv"). More than one candidate for the
    table, or a folder holding both formats, is a one-line error naming two of them.
    """
    data_dir = Path(data_dir)
    candidates = [data_dir / f"{name}{suffix}" for suffix in TABLE_SUFFIXES if (data_dir / f"{name}{suffix}").is_file()]
    folder = data_dir / name
    if folder.is_dir():
        candidates.append(folder)
    if len(candidates) > 1:
        raise BadInputError(
            f"{candidates[0]}: table '{name}' is also given as {candidates[1]}; keep one of them "
            "(both would be read as the same table, 0 rows read)"
        )
    if not candidates:
        raise BadInputError(
            f"{data_dir}: table '{name}' not found (looked for {name}.parquet, {name}.csv, {name}/; 0 rows)"
        )
    if candidates[0].is_file():
        return candidates, candidates[0].suffix.lstrip(".")
    parts = _parts(folder)
    found = {suffix: files for suffix, files in parts.items() if files}
    if len(found) > 1:
        parquet, csv = found[".parquet"], found[".csv"]
        raise BadInputError(
            f"{folder}: folder for table '{name}' mixes {len(parquet)} .parquet and {len(csv)} .csv parts "
            f"(e.g. {parquet[0].name} and {csv[0].name}); keep one format (0 rows read)"
        )
    if not found:
        raise BadInputError(f"{folder}: folder for table '{name}' holds no .parquet or .csv files (0 rows)")
    suffix, files = next(iter(found.items()))
    return files, suffix.lstrip(".")


def table_inputs(data_path: Path, tables: tuple[str, ...]) -> list[Path]:
    """Every file and table folder a command reading `tables` from `data_path` may read (a single
    lead-level file is its own input); missing tables are left to the reader to report."""
    data_path = Path(data_path)
    if data_path.is_file():
        return [data_path]
    inputs: list[Path] = []
    for name in tables:
        inputs += [data_path / f"{name}{suffix}" for suffix in TABLE_SUFFIXES]
        folder = data_path / name
        if folder.is_dir():
            inputs.append(folder)
            inputs += [p for files in _parts(folder).values() for p in files]
    return inputs


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def refuse_outputs_over_inputs(outputs: list[Path], inputs: list[Path | None]) -> None:
    """Refuse, before any work, an output that is one of the inputs (after resolving links), lies
    inside an input table's folder, would become another candidate for an input table, is a
    folder, or whose parent is a file. `inputs` are files and table folders (None is skipped)."""
    resolved_inputs = [(Path(p), Path(p).resolve()) for p in inputs if p is not None]
    for out in map(Path, outputs):
        target = out.resolve()
        if out.is_dir():
            raise BadInputError(f"{out}: --out is a folder; give a file name")
        parent = next((p for p in [out.parent, *out.parent.parents] if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise BadInputError(f"{out}: cannot write there, {parent} is a file, not a folder")
        for given, source in resolved_inputs:
            if not given.exists():
                continue
            if target == source or _same_file(out, given):
                raise BadInputError(f"{out}: --out would replace the input {given}; write the output elsewhere")
            if given.is_dir() and target.is_relative_to(source):
                raise BadInputError(
                    f"{out}: --out lies inside the input table folder {given}; write the output elsewhere"
                )
            table_name = source.stem if given.suffix in TABLE_SUFFIXES else source.name
            same_table = target.parent == source.parent and target.suffix in TABLE_SUFFIXES \
                and target.stem == table_name
            if same_table:
                raise BadInputError(
                    f"{out}: --out would become a second copy of the input table {given}; write the output elsewhere"
                )


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask is process-wide and not thread safe)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def output_mode(final_path: Path) -> int:
    """The mode a written output gets: an existing file's own, else 0666 minus the umask."""
    try:
        return stat.S_IMODE(os.stat(final_path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _owner_tag() -> str:
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
    return f"{os.getpid()}@{host}"


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(final_path: Path) -> list[Path]:
    """Remove temporaries of `final_path` left by a process of this host that is no longer running
    (e.g. a killed run); returns what was removed."""
    final_path = Path(final_path)
    prefix = f".{final_path.name}."
    host = _owner_tag().split("@", 1)[1]
    removed = []
    if not final_path.parent.is_dir():
        return removed
    for candidate in final_path.parent.iterdir():
        name = candidate.name
        if not (name.startswith(prefix) and name.endswith(TEMP_SUFFIX)):
            continue
        owner = name[len(prefix):-len(TEMP_SUFFIX)].split(".", 1)[0]
        pid, _, owner_host = owner.partition("@")
        if owner_host != host or not pid.isdigit() or _pid_running(int(pid)):
            continue
        try:
            candidate.unlink()
            removed.append(candidate)
        except OSError:
            pass
    return removed


def _write_error(path: Path, exc: OSError) -> LeadqError:
    reason = exc.strerror or str(exc)
    return LeadqError(f"{path}: cannot write the output ({reason}); nothing was replaced")


@contextmanager
def atomic_paths(*final_paths: Path) -> Iterator[list[Path]]:
    """Yield one temporary path beside each final path; when the block succeeds, give each the
    mode it should have and rename them all into place. On any failure the temporaries are
    removed and every final path is left as it was; an OS error (disk full, permissions) becomes
    a one-line error naming the file."""
    finals = [Path(p) for p in final_paths]
    temporaries: list[Path] = []
    current = finals[0] if finals else Path(".")
    try:
        for final in finals:
            current = final
            if final.is_dir():
                raise BadInputError(f"{final}: is a folder; give a file name")
            final.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(final)
            fd, name = tempfile.mkstemp(prefix=f".{final.name}.{_owner_tag()}.", suffix=TEMP_SUFFIX,
                                        dir=final.parent)
            os.close(fd)
            temporaries.append(Path(name))
        try:
            yield list(temporaries)
        except OSError as exc:
            named = {str(tmp): final for tmp, final in zip(temporaries, finals)}
            raise _write_error(named.get(str(exc.filename), finals[0]), exc) from None
        for final, tmp in zip(finals, temporaries):
            current = final
            os.chmod(tmp, output_mode(final))
        for final, tmp in zip(finals, temporaries):
            current = final
            os.replace(tmp, final)
    except OSError as exc:
        raise _write_error(current, exc) from None
    finally:
        for tmp in temporaries:
            if tmp.exists():
                tmp.unlink()


@contextmanager
def atomic_path(final_path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final_path`; rename it into place only if the block succeeds
    (see `atomic_paths`)."""
    with atomic_paths(final_path) as (tmp,):
        yield tmp


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells that a spreadsheet would evaluate as a formula are
    prefixed with `'` (numbers written as text, such as `-3.5`, are left alone)."""
    out = frame
    for name in frame.columns:
        column = frame[name]
        if not (column.dtype == object or isinstance(column.dtype, (pd.StringDtype, pd.CategoricalDtype))):
            continue
        text = column.astype(object)
        risky = _risky_cells(text)
        if risky.any():
            if out is frame:
                out = frame.copy()
            fixed = text.copy()
            fixed[risky] = "'" + text[risky].astype(str)
            out[name] = fixed
    return out


def _risky_cells(text: pd.Series) -> np.ndarray:
    """Which cells of an object column are text a spreadsheet would evaluate as a formula."""
    if pd.api.types.infer_dtype(text, skipna=True) in ("string", "empty"):
        strings = pa.array(text, type=pa.string(), from_pandas=True)
        return _risky_strings(strings).fill_null(False).to_numpy(zero_copy_only=False)
    is_text = text.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    strings = text[is_text].astype(str)
    risky = np.zeros(len(text), dtype=bool)
    risky[is_text] = (strings.str.contains(FORMULA_START) & ~strings.str.match(PLAIN_NUMBER)).to_numpy(dtype=bool)
    return risky


def _risky_strings(strings: pa.Array) -> pa.Array:
    """Which strings a spreadsheet would evaluate as a formula (RE2 over the whole column in
    Arrow, no Python per cell; null for null)."""
    return pc.and_(pc.match_substring_regex(strings, FORMULA_START.pattern),
                   pc.invert(pc.match_substring_regex(strings, PLAIN_NUMBER.pattern)))


def _neutralised_strings(strings: pa.Array) -> pa.Array:
    """`strings` with those a spreadsheet would evaluate as a formula prefixed with `'`."""
    quote, nothing = pa.scalar("'", strings.type), pa.scalar("", strings.type)
    return pc.if_else(_risky_strings(strings), pc.binary_join_element_wise(quote, strings, nothing), strings)


def write_frame(frame: pd.DataFrame, path: Path, tmp: Path) -> None:
    """Write `frame` to `tmp` in the format of `path`'s extension (CSV cells neutralised)."""
    if Path(path).suffix.lower() == ".csv":
        write_csv(frame, tmp)
    else:
        frame.to_parquet(tmp, index=False)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """`frame` as CSV without its index, text that a spreadsheet would evaluate as a formula
    prefixed with `'` (`neutralise_formulas`). Frames of numbers and text go through Arrow's writer
    (several times faster than pandas on a million scored leads): text is always quoted, small
    floats are written without an exponent, and a float column holding whole numbers is written
    as text with their `.0` (`3.0`), so that readers still see floats. Other column types (dates,
    booleans, mixed objects) keep pandas' formatting."""
    table = _plain_arrow_table(frame)
    if table is None:
        neutralise_formulas(frame).to_csv(path, index=False)
    else:
        pa_csv.write_csv(table, path, write_options=pa_csv.WriteOptions(quoting_style="needed"))


def _float_column(values: np.ndarray) -> pa.Array:
    """A float column for Arrow's CSV writer: as numbers, or, when it holds a whole number
    (which Arrow writes without a point), as text with Python's `3.0`."""
    numbers = pa.array(values, from_pandas=True)
    finite = values[np.isfinite(values)]
    if not np.any(finite == np.trunc(finite)):
        return numbers
    text = pc.cast(numbers, pa.string())
    whole = pc.match_substring_regex(text, r"^-?\d+$")
    return pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)


def _plain_arrow_table(frame: pd.DataFrame) -> pa.Table | None:
    """`frame` as an Arrow table when every column is a number or text (missing as null)."""
    columns = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column.dtype) or not isinstance(name, str):
            return None
        if pd.api.types.is_integer_dtype(column.dtype):
            columns[name] = pa.array(column, from_pandas=True)
        elif pd.api.types.is_float_dtype(column.dtype):
            columns[name] = _float_column(column.to_numpy(dtype=np.float64, na_value=np.nan))
        elif isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow":
            columns[name] = _neutralised_strings(pa.chunked_array(pa.array(column.array)).cast(pa.large_string()))
        elif (column.dtype == object or isinstance(column.dtype, pd.StringDtype)) and \
                pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
            columns[name] = _neutralised_strings(pa.array(column.astype(object), type=pa.string(), from_pandas=True))
        else:
            return None
    if frame.columns.duplicated().any():
        return None
    return pa.table(columns)


def check_table_suffix(path: Path) -> None:
    """A table output must end in .csv or .parquet."""
    if Path(path).suffix.lower() not in TABLE_SUFFIXES:
        raise BadInputError(f"{path}: output must end in .csv or .parquet")


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write `frame` as CSV or Parquet by the file's extension, atomically."""
    path = Path(path)
    check_table_suffix(path)
    with atomic_path(path) as tmp:
        write_frame(frame, path, tmp)
    return path


def write_table_with_report(frame: pd.DataFrame, path: Path, report_text: str, report_path: Path) -> Path:
    """Write a table and its report together: both to temporaries, then both renamed, so the
    report always describes the table beside it."""
    path = Path(path)
    check_table_suffix(path)
    with atomic_paths(path, report_path) as (table_tmp, report_tmp):
        write_frame(frame, path, table_tmp)
        report_tmp.write_text(report_text)
    return path
