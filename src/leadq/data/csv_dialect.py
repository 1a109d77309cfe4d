"""How a CSV export is written: delimiter, quote, header, encoding and decimal mark.

Exports come from many tools and locales: Excel in much of Europe writes `;` with decimal
commas, older systems write Latin-1, some write a byte-order mark. `sniff_csv` reads the first
`SNIFF_BYTES` of a file and decides, with `CsvOptions` (the mapping's or the lead table's `csv:`
section) overriding any part of the guess:

- encoding: UTF-16 or UTF-8 when the file starts with their byte-order mark; UTF-8 when the
  sample decodes as UTF-8; else Latin-1, reported;
- delimiter: among `, ; <tab> |`, the one that splits the sample's lines into the same number
  of fields (more than one) most often; ties go to the one giving more fields, then in that
  order;
- quote: `"` unless the options say `'`;
- header: leadq needs column names in the first row; a first row whose fields are all numbers
  is an error that says so;
- decimal mark: `,` when the delimiter is not `,` and the sample has numbers written with a
  decimal comma (`1,5`) and none with a decimal point (`1.5`); else `.`.

A header that reads as one column holding one of the other delimiters (a `;` file read with
`,`) is an error naming the delimiter to set.
"""

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from leadq.core.errors import BadInputError

DELIMITERS = (",", ";", "\t", "|")
SNIFF_BYTES = 1 << 18
SNIFF_LINES = 200
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d+)?|[.,]\d+)$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d{1,3}(\.\d{3})*,\d+$|^[+-]?\d+,\d+$")
_DECIMAL_POINT = re.compile(r"^[+-]?\d+\.\d+$")
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}


class CsvOptions(BaseModel):
    """Explicit CSV settings; anything left out is sniffed from the file."""

    model_config = ConfigDict(extra="forbid")

    delimiter: Literal[",", ";", "\t", "|"] | None = None
    decimal: Literal[".", ","] | None = None
    encoding: Literal["utf-8", "latin-1", "utf-16"] | None = None
    quote: Literal['"', "'"] | None = None


@dataclass
class CsvDialect:
    """What a CSV file was read as, and lines worth reporting about it (e.g. a Latin-1 fallback)."""

    delimiter: str
    quote: str
    encoding: str
    decimal: str
    notes: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    """The first row's fields, as written (the column names)."""

    def describe(self) -> str:
        """Short text such as "delimiter ';', decimal ',', latin-1"."""
        return f"delimiter {_NAMES[self.delimiter]}, decimal '{self.decimal}', {self.encoding}"


def delimiter_name(delimiter: str) -> str:
    """How a delimiter is written in messages ("';'", "tab")."""
    return _NAMES.get(delimiter, repr(delimiter))


def _decode(sample: bytes, encoding_option: str | None, path: Path) -> tuple[str, str, list[str]]:
    """The sample as text, the encoding to read the file with, and notes."""
    if encoding_option:
        codec = "utf-16" if encoding_option == "utf-16" else encoding_option
        return sample.decode(codec, errors="replace"), encoding_option, []
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return sample.decode(name if name == "utf-16" else "utf-8-sig", errors="replace"), name, []
    try:
        # A multi-byte character cut at the end of the sample is not an error.
        return sample.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return sample[:exc.start].decode("utf-8"), "utf-8", []
        note = (f"{path}: not UTF-8 (byte 0x{sample[exc.start]:02x} at offset {exc.start}): read as Latin-1; "
                "set csv.encoding in the mapping if that is wrong")
        return sample.decode("latin-1"), "latin-1", [note]


def _field_counts(lines: list[str], delimiter: str, quote: str) -> list[int]:
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter, quotechar=quote)
    try:
        return [len(row) for row in reader if row]
    except csv.Error:
        return []


def _pick_delimiter(lines: list[str], quote: str) -> str:
    best, best_key = ",", (0, 0)
    for delimiter in DELIMITERS:
        counts = _field_counts(lines, delimiter, quote)
        if not counts or counts[0] < 2:
            continue
        # Lines agreeing with the header's field count, then more fields.
        key = (sum(1 for c in counts if c == counts[0]), counts[0])
        if key > best_key:
            best, best_key = delimiter, key
    return best


def _first_rows(text: str, delimiter: str, quote: str, n: int) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quote)
    rows = []
    try:
        for row in reader:
            if row:
                rows.append(row)
            if len(rows) >= n:
                break
    except csv.Error:
        pass
    return rows


def check_header(path: Path | str, columns: list[str], delimiter: str, n_rows: int | None = None) -> None:
    """One-line error when the header is one column holding another delimiter."""
    if len(columns) != 1:
        return
    header = str(columns[0])
    for other in DELIMITERS:
        if other != delimiter and other in header:
            rows = f" ({n_rows} rows)" if n_rows is not None else ""
            raise BadInputError(
                f"{path}: the header is one column '{header[:80]}' holding {delimiter_name(other)}: the file is "
                f"probably {delimiter_name(other)}-separated, not {delimiter_name(delimiter)}-separated; set "
                f"csv: {{delimiter: \"{other if other != chr(9) else chr(92) + 't'}\"}} in the mapping{rows}"
            )


def sniff_csv(path: Path | str, options: CsvOptions | None = None) -> CsvDialect:
    """The dialect of the CSV file at `path`, sniffed from its start; `options` override."""
    options = options or CsvOptions()
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            sample = handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise BadInputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    text, encoding, notes = _decode(sample, options.encoding, path)
    if len(sample) == SNIFF_BYTES:  # the last line may be cut
        text = text[: text.rfind("\n") + 1] or text
    lines = text.splitlines()[:SNIFF_LINES]
    quote = options.quote or '"'
    delimiter = options.delimiter or _pick_delimiter(lines, quote)
    rows = _first_rows("\n".join(lines), delimiter, quote, SNIFF_LINES)
    if rows:
        check_header(path, rows[0], delimiter)
        header = [value.strip() for value in rows[0]]
        if all(_NUMBER.match(value) for value in header if value) and any(header):
            raise BadInputError(
                f"{path}: the first row ({', '.join(header[:4])}{', ...' if len(header) > 4 else ''}) holds "
                "numbers, not column names: leadq needs a header row naming the columns"
            )
    decimal = options.decimal or "."
    if options.decimal is None and delimiter != ",":
        values = [value.strip() for row in rows[1:] for value in row]
        commas = sum(1 for value in values if _DECIMAL_COMMA.match(value))
        points = sum(1 for value in values if _DECIMAL_POINT.match(value))
        if commas and not points:
            decimal = ","
    return CsvDialect(delimiter=delimiter, quote=quote, encoding=encoding, decimal=decimal, notes=notes,
                      header=list(rows[0]) if rows else [])
