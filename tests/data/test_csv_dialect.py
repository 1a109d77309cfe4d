"""CSV dialects: delimiter, decimal mark, encoding and header, sniffed or set, read alike."""

import pandas as pd
import pytest

from leadq.core.errors import BadInputError
from leadq.data.csv_dialect import CsvOptions, sniff_csv
from leadq.data.load import connect
from leadq.data.read_tables import read_csv_table


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _read(path, options=None):
    con = connect()
    dialect = read_csv_table(con, "t", [path], options)
    return dialect, con.execute("SELECT * FROM t").df()


def test_excel_europe_semicolons_decimal_commas_and_latin1_are_sniffed(tmp_path):
    text = "id;Stadt;Umsatz;Anteil\n1;München;1.234,50;0,5\n2;Köln;12,25;1\n3;Zürich;7;2,75\n"
    path = _write(tmp_path, "leads.csv", text.encode("latin-1"))
    dialect, frame = _read(path)
    assert (dialect.delimiter, dialect.decimal, dialect.encoding) == (";", ",", "latin-1")
    assert len(dialect.notes) == 1 and "read as Latin-1" in dialect.notes[0] and str(path) in dialect.notes[0]
    assert frame["Stadt"].tolist() == ["München", "Köln", "Zürich"]
    # Numbers are rewritten with a decimal point, thousands separators dropped.
    assert frame["Umsatz"].tolist() == ["1234.50", "12.25", "7"]
    assert frame["Anteil"].tolist() == ["0.5", "1", "2.75"]


@pytest.mark.parametrize(("delimiter", "name"), [(",", "comma"), ("\t", "tab"), ("|", "pipe"), (";", "semicolon")])
def test_each_delimiter_is_found(tmp_path, delimiter, name):
    rows = [["id", "source", "visits"], ["a", "web, paid", "3"], ["b", "event", "4"]]
    quoted = [[f'"{v}"' if "," in v else v for v in row] for row in rows]
    path = _write(tmp_path, f"{name}.csv", ("\n".join(delimiter.join(r) for r in quoted) + "\n").encode())
    dialect, frame = _read(path)
    assert dialect.delimiter == delimiter
    assert frame.columns.tolist() == ["id", "source", "visits"]
    assert frame["source"].tolist() == ["web, paid", "event"]


def test_utf8_with_a_byte_order_mark_keeps_its_first_column_name(tmp_path):
    path = _write(tmp_path, "bom.csv", "\ufeffRecord ID,Name\n1,Zoë\n".encode("utf-8"))
    dialect, frame = _read(path)
    assert dialect.encoding == "utf-8" and dialect.notes == []
    assert frame.columns.tolist() == ["Record ID", "Name"] and frame["Name"].tolist() == ["Zoë"]


def test_utf16_excel_unicode_text_is_read(tmp_path):
    path = _write(tmp_path, "unicode.txt", "id\tname\n1\tÅsa\n".encode("utf-16"))
    dialect, frame = _read(path)
    assert (dialect.encoding, dialect.delimiter) == ("utf-16", "\t")
    assert frame["name"].tolist() == ["Åsa"]


def test_options_override_the_sniffer(tmp_path):
    # Commas inside values make ',' look plausible; the options say ';' and keep decimal points.
    path = _write(tmp_path, "x.csv", b"id;note;amount\n1;a,b,c;1.5\n2;d,e,f;2.5\n")
    dialect, frame = _read(path, CsvOptions(delimiter=";", decimal="."))
    assert frame["note"].tolist() == ["a,b,c", "d,e,f"] and frame["amount"].tolist() == ["1.5", "2.5"]


def test_a_header_that_is_one_column_holding_semicolons_says_so(tmp_path):
    path = _write(tmp_path, "leads.csv", b"lead_id;created_at;source\nL1;2026-01-01;web\nL2;2026-01-02;ads\n")
    with pytest.raises(BadInputError) as caught:
        _read(path, CsvOptions(delimiter=","))
    message = caught.value.message
    assert message.startswith(str(path)) and "one column 'lead_id;created_at;source' holding ';'" in message
    assert 'delimiter: ";"' in message


def test_a_first_row_of_numbers_is_not_a_header(tmp_path):
    path = _write(tmp_path, "noheader.csv", b"1,2,3\n4,5,6\n")
    with pytest.raises(BadInputError) as caught:
        sniff_csv(path)
    assert "holds numbers, not column names" in caught.value.message


def test_a_utf8_file_stays_utf8_and_decimal_points_stay_points_with_commas(tmp_path):
    path = _write(tmp_path, "us.csv", "id,amount,city\n1,\"1,234.5\",Zoë\n".encode())
    dialect, frame = _read(path)
    assert (dialect.delimiter, dialect.decimal, dialect.encoding) == (",", ".", "utf-8")
    assert frame.iloc[0].tolist() == ["1", "1,234.5", "Zoë"]
    assert isinstance(frame, pd.DataFrame)
