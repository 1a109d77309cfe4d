"""Point in time on every engine and both paths, against an independent reference.

One body per property, run for each engine (`engine` fixture: in-process numpy, the Spark SQL
run by DuckDB, Spark) on both paths: every open lead at one cutoff (scoring) and (lead, cutoff)
rows at several cutoffs (training snapshots). Per hypothesis-drawn history:

- the features equal the pandas baseline's (benchmarks/pandas_features.py, no shared code);
- nothing at or after the cutoff changes a feature: events exactly at the cutoff and later,
  outcomes, a lead created exactly at the cutoff;
- one more event before the cutoff adds one to its type's counts and changes no other lead.

Event times are drawn from the boundaries as often as from anywhere (exactly at each cutoff,
one second before, at window and trend edges, 12 h and 7 days between pricing views, a
30-minute gap), and explicit `@example`s pin them on every engine. Features are computed per
lead, so one engine pass holds three "worlds" under prefixed lead ids (`b/`: the history before
the cutoff, `a/`: plus everything at or after it, `e/`: plus one event before it); a Spark pass
costs seconds, so Spark runs the boundary examples only, all of them in one pass under
per-example prefixes (the drawn histories check its SQL on DuckDB, the `sql` engine).
"""

import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from feature_engines import assert_same_features, reference_features
from leadq.data.contract import CANONICAL_EVENT_TYPES

START = pd.Timestamp("2024-01-01", tz="UTC")
CLOCK = pd.Timestamp("2025-01-01", tz="UTC")
DAY, HOUR, MINUTE = 86_400, 3_600, 60
CUT_S = 60 * DAY  # the cutoff, in seconds after START
MID_S = 30 * DAY  # the earlier snapshot cutoff of the training path (= CUT_S - 30 days)
CUTOFF = START + pd.Timedelta(seconds=CUT_S)
MID = START + pd.Timedelta(seconds=MID_S)
Q_CREATED_S = 3 * DAY
TYPES = [*CANONICAL_EVENT_TYPES, "custom_thing"]
DRAWN_EXAMPLES = {"in_process": 15, "sql": 4, "spark": 0}  # Spark: the boundary examples only

LEADS = pd.DataFrame({"lead_id": ["p", "q"],
                      "created_at": [START, START + pd.Timedelta(seconds=Q_CREATED_S)],
                      "segment": ["x", "y"]})
LATE_LEAD = pd.DataFrame({"lead_id": ["r"], "created_at": [CUTOFF], "segment": ["z"]})

# Times (seconds after START) where a feature's definition changes, for both cutoffs.
PAST_EDGES = sorted({
    s for cut in (CUT_S, MID_S) for d in (0, 7, 30, 37, 90)
    for s in (cut - d * DAY, cut - d * DAY - 1, cut - d * DAY + 1)
    if Q_CREATED_S <= s < CUT_S
} | {Q_CREATED_S, 10 * DAY, 10 * DAY + 12 * HOUR, 10 * DAY + 12 * HOUR - 1, 17 * DAY, 17 * DAY + 1,
     17 * DAY + 30 * MINUTE, 17 * DAY + 30 * MINUTE + 1})
FUTURE_EDGES = [CUT_S, CUT_S + 1, CUT_S + 7 * DAY]


def _times(lo: int, hi: int, edges: list[int]):
    return st.one_of(st.sampled_from([s for s in edges if lo <= s <= hi]), st.integers(lo, hi))


def _events(lo: int, hi: int, edges: list[int], max_size: int = 20):
    return st.lists(st.tuples(
        st.sampled_from(["p", "q"]), _times(lo, hi, edges), st.sampled_from(TYPES),
        st.one_of(st.none(), st.floats(min_value=0, max_value=3600)),
        st.sampled_from(["/pricing", "/a", None]), st.sampled_from(["ebook-1", "web-1", None]),
    ), max_size=max_size)


def _frame(rows) -> pd.DataFrame:
    return pd.DataFrame({
        "lead_id": [r[0] for r in rows],
        "ts": pd.to_datetime([START + pd.Timedelta(seconds=r[1]) for r in rows], utc=True),
        "event_type": [r[2] for r in rows],
        "duration_s": [r[3] for r in rows],
        "page": [r[4] for r in rows],
        "content_id": [r[5] for r in rows],
    }).astype({"duration_s": float, "page": object, "content_id": object, "lead_id": object,
               "event_type": object})


def _outcomes(rows) -> pd.DataFrame:
    return pd.DataFrame({
        "lead_id": [r[0] for r in rows], "stage": [r[1] for r in rows],
        "reached_at": pd.to_datetime([START + pd.Timedelta(seconds=r[2]) for r in rows], utc=True),
    }).astype({"lead_id": object, "stage": object})


DRAWN = {
    "past": _events(Q_CREATED_S, CUT_S - 1, PAST_EDGES),
    "future": _events(CUT_S, CUT_S + 200 * DAY, FUTURE_EDGES, max_size=8),
    # mql and sql at any time, becoming a customer only after the cutoff (a customer by the
    # cutoff is not an open lead: tests/features/test_examples.py)
    "outcomes": st.lists(st.one_of(
        st.tuples(st.sampled_from(["p", "q"]), st.sampled_from(["mql", "sql"]),
                  _times(Q_CREATED_S, CUT_S + 100 * DAY, [MID_S, CUT_S])),
        st.tuples(st.sampled_from(["p", "q"]), st.just("customer"), st.integers(CUT_S + 1, CUT_S + 100 * DAY)),
    ), max_size=3),
    "extra": st.tuples(_times(Q_CREATED_S, CUT_S - 1, PAST_EDGES), st.sampled_from(list(CANONICAL_EVENT_TYPES))),
}

BOUNDARY_PAST = [
    ("p", CUT_S - 1, "pricing_view", 30.0, "/pricing", None),  # one second before the cutoff
    ("p", CUT_S - 7 * DAY, "page_view", 5.0, "/a", None),  # on the 7-day window's edge: inside
    ("p", CUT_S - 7 * DAY - 1, "page_view", None, "/a", None),  # one second outside it
    ("p", MID_S, "email_open", None, None, "ebook-1"),  # exactly at the earlier cutoff; 30-day edge
    ("q", MID_S - 1, "content_download", 12.0, None, "ebook-1"),
    ("q", CUT_S - 37 * DAY, "form_submit", None, "/a", None),  # the trend's base window edge
    ("q", 10 * DAY, "pricing_view", 60.0, "/pricing", None),
    ("q", 10 * DAY + 12 * HOUR, "pricing_view", 30.0, "/pricing", None),  # a return exactly 12 h later
    ("q", 17 * DAY + 12 * HOUR, "pricing_view", 20.0, "/pricing", None),  # and exactly 7 days later
    ("q", 17 * DAY + 12 * HOUR + 30 * MINUTE, "webinar_attend", None, None, "web-1"),  # 30-min gap
]
BOUNDARY_FUTURE = [
    ("p", CUT_S, "demo_request", 99.0, "/demo", "web-1"),  # exactly at the cutoff: not seen
    ("q", CUT_S, "pricing_view", 99.0, "/pricing", None),
    ("p", CUT_S + 1, "pricing_view", 1.0, "/pricing", None),
]
BOUNDARY_OUTCOMES = [("p", "sql", CUT_S), ("q", "mql", MID_S), ("q", "customer", CUT_S + 1)]
BOUNDARY_EXAMPLES = [
    {"past": BOUNDARY_PAST, "future": BOUNDARY_FUTURE, "outcomes": BOUNDARY_OUTCOMES,
     "extra": (CUT_S - 1, "pricing_view")},
    {"past": BOUNDARY_PAST, "future": BOUNDARY_FUTURE, "outcomes": [], "extra": (MID_S, "webinar_attend")},
    {"past": [], "future": BOUNDARY_FUTURE, "outcomes": [], "extra": (Q_CREATED_S, "content_download")},
]

# Two identical events count once (the load policy drops exact duplicates), on the engines that
# draw histories (found by a drawn history before the pandas baseline dropped them too).
EXACT_DUPLICATES = {"past": [("p", 3 * DAY, "page_view", None, "/pricing", "ebook-1")] * 2, "future": [],
                    "outcomes": [], "extra": (3 * DAY, "page_view")}


def with_hypothesis(engine) -> None:
    """Check both paths on every boundary example and on as many drawn histories as the engine
    affords. An engine that affords none (Spark: a pass costs seconds) checks all the boundary
    examples in one pass instead, each under its own prefix: one load and one pass per path."""
    drawn = DRAWN_EXAMPLES[engine.name]
    if not drawn:
        _both_paths_in_one_pass(engine, BOUNDARY_EXAMPLES)
        return
    test = given(**DRAWN)(_both_paths)
    for boundary in [*BOUNDARY_EXAMPLES, EXACT_DUPLICATES]:
        test = example(**boundary)(test)
    settings(max_examples=drawn, deadline=None, database=None,
             suppress_health_check=[HealthCheck.too_slow])(test)(engine)


def _worlds(past, future, outcomes, extra) -> dict[str, tuple]:
    """The three histories one pass compares (see the module docstring)."""
    before = (LEADS, _frame(past), _outcomes([o for o in outcomes if o[2] < CUT_S]))
    after = (pd.concat([LEADS, LATE_LEAD], ignore_index=True),
             _frame([*past, *future, ("r", CUT_S + 10, "pricing_view", 5.0, "/pricing", None)]),
             _outcomes(outcomes))
    extra_row = ("p", extra[0], extra[1], None, None, None)
    return {"b/": before, "a/": after, "e/": (LEADS, _frame([*past, extra_row]), before[2])}


def _union(worlds: dict) -> tuple:
    return tuple(
        pd.concat([t[i].assign(lead_id=prefix + t[i]["lead_id"].astype(str)) for prefix, t in worlds.items()],
                  ignore_index=True)
        for i in range(3)
    )


def _world_rows(table: pd.DataFrame, prefix: str, cutoff=None) -> pd.DataFrame:
    rows = table[table["lead_id"].str.startswith(prefix)]
    if cutoff is not None:
        rows = rows[pd.to_datetime(rows["cutoff"], utc=True) == cutoff].drop(columns="cutoff")
    return rows.assign(lead_id=rows["lead_id"].str[len(prefix):]).sort_values("lead_id").reset_index(drop=True)


def _check_the_three_worlds(features: dict[str, pd.DataFrame], extra_type: str, context: str) -> None:
    before, after, extra = (features[w].set_index("lead_id") for w in ("b/", "a/", "e/"))
    if not after.equals(before):  # pandas' comparison (with its float tolerance) names the difference
        pd.testing.assert_frame_equal(after, before, obj=f"{context}: at or after the cutoff")
    for name in (f"{extra_type}_all", "events_all"):
        assert extra.loc["p", name] == before.loc["p", name] + 1, (context, name)
    if not extra.loc["q"].equals(before.loc["q"]):
        pd.testing.assert_series_equal(extra.loc["q"], before.loc["q"], obj=f"{context}: the other lead")


def _both_paths(engine, past, future, outcomes, extra) -> None:
    """One history: its three worlds in one pass per path."""
    _both_paths_in_one_pass(engine, [{"past": past, "future": future, "outcomes": outcomes, "extra": extra}])


def _both_paths_in_one_pass(engine, cases: list[dict]) -> None:
    """Several histories (`past`, `future`, `outcomes`, `extra`), each under its own prefix, in
    one load and one pass per path."""
    worlds, reference = {}, {}
    for n, case in enumerate(cases):
        case_worlds = _worlds(**case)
        worlds.update({f"{n}{w}": world for w, world in case_worlds.items()})
        reference.update({(f"{n}{w}", cutoff): reference_features(case_worlds[w], cutoff, CLOCK)
                          for w, cutoff in (("b/", CUTOFF), ("e/", CUTOFF), ("b/", MID))})
    data = engine.load(_union(worlds), CLOCK)

    # the scoring path: every open lead at one cutoff (not the lead created exactly at it)
    table = engine.features_at(data, CUTOFF)
    assert sorted(table["lead_id"]) == sorted(w + lead for w in worlds for lead in ("p", "q"))
    # the training path: (lead, cutoff) rows at the cutoff and 30 days before it
    examples = pd.DataFrame([(w + lead, cutoff) for w in worlds for lead in ("p", "q") for cutoff in (CUTOFF, MID)],
                            columns=["lead_id", "cutoff"])
    snapshots = engine.feature_table(data, examples)
    assert list(snapshots["lead_id"]) == list(examples["lead_id"])

    for n, case in enumerate(cases):
        name = f"{engine}" + (f", boundary example {n}" if len(cases) > 1 else "")
        w = {key: f"{n}{key}" for key in ("b/", "a/", "e/")}
        features = {key: _world_rows(table, w[key]) for key in w}
        for key in ("b/", "e/"):
            assert_same_features(reference[w[key], CUTOFF], features[key], f"{name}, one cutoff, world {key}")
        _check_the_three_worlds(features, case["extra"][1], f"{name}, one cutoff")

        features = {key: _world_rows(snapshots, w[key], CUTOFF) for key in w}
        for key in ("b/", "e/"):
            assert_same_features(reference[w[key], CUTOFF], features[key], f"{name}, many cutoffs, world {key}")
        _check_the_three_worlds(features, case["extra"][1], f"{name}, many cutoffs")
        earlier = {key: _world_rows(snapshots, w[key], MID) for key in ("b/", "a/")}
        assert_same_features(reference[w["b/"], MID], earlier["b/"], f"{name}, many cutoffs, the earlier one")
        pd.testing.assert_frame_equal(earlier["a/"], earlier["b/"], obj=f"{name}, the earlier cutoff")


def test_features_are_point_in_time_on_both_paths(engine):
    """Scoring (every open lead at one cutoff) and training ((lead, cutoff) rows at two
    cutoffs, the earlier one 30 days back): reference values, the future ignored, the past seen."""
    with_hypothesis(engine)
