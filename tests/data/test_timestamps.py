"""Timestamp formats of the mapping (`leadq.data.timestamps`): ISO text, native, epoch seconds,
milliseconds or microseconds, strftime."""

import pandas as pd
import pytest

from leadq.core.errors import BadInputError
from leadq.data.load import connect
from leadq.data.timestamps import check_format_word, timestamp_sql

# 2026-03-01 14:05:06.250 UTC
EPOCH_S = 1772373906.25


def _parse(values, fmt, column_type=None):
    con = connect()
    frame = pd.DataFrame({"t": values})
    con.register("frame", frame)
    kind = column_type or con.execute("DESCRIBE frame").fetchall()[0][1]
    sql = timestamp_sql(con, "t", kind, fmt, "test")
    return [None if v is None else pd.Timestamp(v) for v in
            (row[0] for row in con.execute(f"SELECT {sql} FROM frame").fetchall())]


WANT = pd.Timestamp("2026-03-01 14:05:06.25", tz="UTC")


@pytest.mark.parametrize(("values", "fmt"), [
    (["2026-03-01T14:05:06.250Z"], None),
    (["2026-03-01 16:05:06.25+02:00"], "iso"),
    ([str(EPOCH_S)], "epoch_s"),
    ([EPOCH_S], "epoch_s"),
    (["1772373906250"], "epoch_ms"),
    ([1772373906250], "epoch_ms"),
    ([1772373906250000], "epoch_us"),
    (["01/03/2026 14:05:06.250"], "%d/%m/%Y %H:%M:%S.%g"),
    (["2026-03-01T14:05:06.250+0000"], "%Y-%m-%dT%H:%M:%S.%g%z"),
])
def test_each_format_gives_the_same_utc_instant(values, fmt):
    assert _parse(values, fmt) == [WANT]


def test_native_timestamps_ignore_the_format():
    native = pd.Series([WANT.tz_localize(None)])
    assert _parse(native, "epoch_ms") == [WANT]


def test_unparseable_and_empty_values_are_missing():
    assert _parse(["not a time", "", "   ", "1772373906"], "epoch_s") == [None, None, None,
                                                                        pd.Timestamp("2026-03-01 14:05:06", tz="UTC")]
    assert _parse(["31/02/2026", "01/03/2026"], "%d/%m/%Y") == [None, pd.Timestamp("2026-03-01", tz="UTC")]


def test_an_invalid_strftime_format_is_one_line_naming_the_key():
    with pytest.raises(BadInputError) as caught:
        _parse(["x"], "%Q-%d", "VARCHAR")
    assert caught.value.message.startswith("test: '%Q-%d' is not a valid strptime format")


def test_format_words_are_checked():
    assert check_format_word("epoch_ms") == "epoch_ms" and check_format_word("%d.%m.%Y") == "%d.%m.%Y"
    with pytest.raises(ValueError, match="not a timestamp format"):
        check_format_word("epoch_minutes")
