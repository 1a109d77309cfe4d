"""Event types after the mapping: ordered rules, insensitive value mapping, canonical spellings."""

import re

import pandas as pd
import pytest

from leadq.core.errors import BadInputError
from leadq.data.event_rules import glob_to_regex
from leadq.data.load import load_frames
from leadq.data.mapping import DataMapping

CLOCK = pd.Timestamp("2026-07-01", tz="UTC")
LEADS = pd.DataFrame({"lead_id": ["a"], "created_at": [pd.Timestamp("2026-01-01", tz="UTC")]})
OUTCOMES = pd.DataFrame({"lead_id": pd.Series([], dtype=object), "stage": pd.Series([], dtype=object),
                         "reached_at": pd.Series([], dtype="datetime64[us, UTC]")})


def _types(rows: list[tuple], mapping: dict) -> list[str]:
    """The event type of each row (event_type, page, link) after the mapping, in row order."""
    events = pd.DataFrame(rows, columns=["event_type", "page", "link"])
    events.insert(0, "lead_id", "a")
    events.insert(1, "ts", [pd.Timestamp("2026-02-01", tz="UTC") + pd.Timedelta(minutes=i) for i in range(len(rows))])
    data = load_frames(LEADS, events, OUTCOMES, DataMapping.model_validate(mapping), clock=CLOCK)
    frame = data.con.execute("SELECT ts, event_type FROM events ORDER BY ts").df()
    return frame["event_type"].tolist()


def test_first_matching_rule_wins_then_values_then_own_names():
    mapping = {
        "event_rules": [
            {"type": "pricing_view", "when": {"event_type": "Page View", "page": "*/pricing*"}},
            {"type": "careers_view", "when": {"event_type": "page view", "page": "*/pricing/careers*"}},
            {"type": "content_download", "when": {"event_type": "click", "link": {"regex": r"\.pdf($|\?)"}}},
        ],
        "event_types": {"Page View": "page_view", "Form Submission": "form_submit"},
    }
    rows = [
        ("Page View", "https://x.io/Pricing/enterprise", None),   # glob in any case -> rule 1
        ("PAGEVIEW", "https://x.io/pricing/careers", None),       # rule 1 comes first
        ("page_view", "https://x.io/blog", None),                 # value mapping, insensitive
        ("click", None, "https://cdn.x.io/guide.pdf?v=2"),        # regex on an extra column
        ("click", None, "https://cdn.x.io/guide.PDF"),            # regexes are as written: no match
        ("form submission", None, None),                          # value mapping
        ("Email Open", None, None),                               # spells a canonical type
        ("Visited Booth", None, None),                            # kept under its own name
    ]
    assert _types(rows, mapping) == ["pricing_view", "pricing_view", "page_view", "content_download", "click",
                                     "form_submit", "email_open", "Visited Booth"]


def test_rule_on_the_mapped_type_and_arrays_count_derived_types():
    mapping = {"event_types": {"Visit Webpage": "page_view"},
               "event_rules": [{"type": "pricing_view", "when": {"event_type": "page_view", "page": "/pricing"}}]}
    events = pd.DataFrame({"lead_id": ["a", "a", "a"],
                           "ts": pd.to_datetime(["2026-02-01", "2026-02-02", "2026-02-03"], utc=True),
                           "event_type": ["Visit Webpage", "Visit Webpage", "Visit Webpage"],
                           "page": ["/pricing", "/PRICING", "/docs"]})
    data = load_frames(LEADS, events, OUTCOMES, DataMapping.model_validate(mapping), clock=CLOCK)
    names = [data.events.type_names[c] for c in data.events.type_code]
    assert sorted(names) == ["page_view", "pricing_view", "pricing_view"]


def test_a_rule_column_the_events_lack_is_one_line_naming_the_rule():
    mapping = {"event_rules": [{"type": "pricing_view", "when": {"Page URL": "*pricing*"}}]}
    with pytest.raises(BadInputError) as caught:
        _types([("x", None, None)], mapping)
    assert "column 'Page URL' used by event_rules[0] (type 'pricing_view') is missing in all 1 rows" in \
        caught.value.message


def test_a_regex_re2_refuses_is_one_line():
    # Python accepts look-behind; RE2 (DuckDB) does not.
    mapping = {"event_rules": [{"type": "t", "when": {"page": {"regex": "(?<=/)pricing"}}}]}
    with pytest.raises(BadInputError) as caught:
        _types([("x", "/pricing", None)], mapping)
    assert caught.value.message.startswith("mapping event_rules[0] (type 't'): pattern '(?<=/)pricing' cannot be used")


@pytest.mark.parametrize(("glob", "value", "matches"), [
    ("/pricing*", "/pricing/enterprise", True), ("*.pdf", "a/b.pdf", True), ("*.pdf", "a/b.pdfx", False),
    ("file?.csv", "file1.csv", True), ("[!a]bc", "xbc", True), ("[!a]bc", "abc", False),
    ("(x)+", "(x)+", True), ("a[b", "a[b", True),
])
def test_globs_match_the_whole_value(glob, value, matches):
    assert bool(re.fullmatch(glob_to_regex(glob), value)) is matches
