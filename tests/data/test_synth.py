"""Tests for the synthetic funnel generator and its oracle."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from leadq.data.contract import CANONICAL_EVENT_TYPES, STAGE_ORDER
from leadq.data.synth import (
    DEFAULT_END,
    DEFAULT_HORIZON_DAYS,
    generate,
    oracle_probability,
    write_generated,
)

N_LEADS = 20_000
H = DEFAULT_HORIZON_DAYS
UTC_US = "datetime64[us, UTC]"


@pytest.fixture(scope="module")
def tables():
    return generate(N_LEADS, seed=11)


def _reached(tables, stage):
    """Per lead (in leads order) the time it reached `stage`, NaT if never."""
    out = tables["outcomes"]
    at = out[out["stage"] == stage].set_index("lead_id")["reached_at"]
    return tables["leads"]["lead_id"].map(at).to_numpy(dtype="datetime64[us]")


def weekly_examples(tables, stage, horizon=H, weeks=35, end=DEFAULT_END):
    """Weekly cutoffs over the last ~8 months; leads created before the cutoff that have not
    reached `stage` by it; label = reached in (cutoff, cutoff + horizon]."""
    leads = tables["leads"]
    created = leads["created_at"].to_numpy(dtype="datetime64[us]")
    reached = _reached(tables, stage)
    last = end - pd.Timedelta(days=horizon)
    frames = []
    for k in range(weeks):
        cut = last - pd.Timedelta(weeks=k)
        c = np.datetime64(cut.tz_localize(None), "us")
        keep = (created < c) & ~(reached <= c)
        label = (reached > c) & (reached <= c + np.timedelta64(horizon, "D"))
        frames.append(pd.DataFrame({"lead_id": leads["lead_id"].to_numpy()[keep], "cutoff": cut,
                                    "horizon_days": horizon, "label": label[keep]}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def oracle_examples(tables):
    """Per stage, the weekly examples and the oracle's probabilities for them, computed once for
    the module's tests (each is half a million rows; the tests only read them)."""
    cache = {}

    def get(stage):
        if stage not in cache:
            ex = weekly_examples(tables, stage)
            cache[stage] = (ex, oracle_probability(tables["truth"], ex, stage))
        return cache[stage]

    return get


def test_deterministic_for_a_seed():
    a, b, c = generate(2_000, seed=5), generate(2_000, seed=5), generate(2_000, seed=6)
    for name in ("leads", "events", "outcomes", "truth"):
        pd.testing.assert_frame_equal(a[name], b[name])
    assert not a["events"]["ts"].equals(c["events"]["ts"])
    assert not a["leads"]["source"].equals(c["leads"]["source"])


def test_schema_and_dtypes(tables):
    leads, events, outcomes = tables["leads"], tables["events"], tables["outcomes"]
    assert list(leads.columns) == ["lead_id", "created_at", "source", "country", "industry",
                                   "company_size", "job_title"]
    assert list(events.columns) == ["lead_id", "ts", "event_type", "duration_s", "page",
                                    "content_id", "channel"]
    assert list(outcomes.columns) == ["lead_id", "stage", "reached_at"]
    assert {"lead_id", "lead_type", "window_rate", "window_open_at"} <= set(tables["truth"])
    assert str(leads["created_at"].dtype) == UTC_US
    assert str(events["ts"].dtype) == UTC_US
    assert str(outcomes["reached_at"].dtype) == UTC_US
    assert leads["lead_id"].is_unique and leads["lead_id"].str.fullmatch(r"L\d{7}").all()
    assert leads["lead_id"].iloc[0] == "L0000001"
    assert pd.api.types.is_integer_dtype(leads["company_size"])
    assert (leads["company_size"] >= 1).all()
    assert leads["company_size"].quantile(0.99) > 20 * leads["company_size"].median()
    assert not leads[["source", "country", "industry", "job_title"]].isna().any().any()
    assert set(events["event_type"].unique()) == set(CANONICAL_EVENT_TYPES)
    assert set(events["channel"].unique()) <= {"organic", "email", "paid", "social", "direct"}
    assert set(outcomes["stage"].unique()) == {"mql", "sql", "customer"}
    timed = events["event_type"].isin(["page_view", "pricing_view", "careers_view"])
    assert (events.loc[timed, "duration_s"] > 0).all()
    assert events.loc[~timed, "duration_s"].isna().all()
    content = events["event_type"].isin(["content_download", "webinar_register",
                                         "webinar_attend"])
    assert events.loc[content, "content_id"].notna().all()
    assert events.loc[~content, "content_id"].isna().all()
    assert (events.loc[events["event_type"] == "pricing_view", "page"] == "/pricing").all()
    assert 8 <= len(events) / len(leads) <= 24


def test_events_and_outcomes_within_lifetime(tables):
    leads, events, outcomes = tables["leads"], tables["events"], tables["outcomes"]
    created = events["lead_id"].map(leads.set_index("lead_id")["created_at"])
    assert (events["ts"] > created).all()
    assert (events["ts"] < DEFAULT_END).all()
    assert (leads["created_at"] < DEFAULT_END).all()
    assert (leads["created_at"] >= DEFAULT_END - pd.Timedelta(days=365)).all()
    created_o = outcomes["lead_id"].map(leads.set_index("lead_id")["created_at"])
    assert (outcomes["reached_at"] > created_o).all()
    assert (outcomes["reached_at"] < DEFAULT_END).all()


def test_custom_end_and_history():
    t = generate(500, seed=1, end="2024-01-01", history_days=90)
    end = pd.Timestamp("2024-01-01", tz="UTC")
    assert t["events"]["ts"].max() < end
    assert t["leads"]["created_at"].min() >= end - pd.Timedelta(days=90)


def test_outcome_ordering(tables):
    wide = tables["outcomes"].pivot(index="lead_id", columns="stage", values="reached_at")
    assert not tables["outcomes"].duplicated(["lead_id", "stage"]).any()
    sql, mql, cust = wide["sql"], wide["mql"], wide["customer"]
    assert mql[sql.notna()].notna().all()
    assert sql[cust.notna()].notna().all()
    both = sql.notna()
    assert (mql[both] <= sql[both]).all()
    both = cust.notna()
    assert (sql[both] < cust[both]).all()
    assert list(STAGE_ORDER) == ["mql", "sql", "customer"]


def test_write_generated(tmp_path):
    t = generate(300, seed=2)
    paths = write_generated(t, tmp_path / "out")
    assert set(paths) == {"leads", "events", "outcomes", "truth"}
    back = pd.read_parquet(paths["events"])
    assert len(back) == len(t["events"])
    assert str(back["ts"].dtype) == UTC_US
    assert not list((tmp_path / "out").glob(".*tmp"))


@pytest.mark.parametrize("stage", ["sql", "mql"])
def test_oracle_is_calibrated(oracle_examples, stage):
    ex, p = oracle_examples(stage)
    y = ex["label"].to_numpy()
    assert not np.isnan(p).any() and ((p >= 0) & (p <= 1)).all()
    # The same lead appears at consecutive weekly cutoffs with overlapping 30-day horizons, so
    # labels are correlated; inflate the binomial standard error by sqrt(horizon / 7).
    deff = np.sqrt(H / 7)

    def check(mask):
        se = np.sqrt((p[mask] * (1 - p[mask])).sum()) * deff
        assert abs(y[mask].sum() - p[mask].sum()) <= 4 * se + 2, (mask.sum(), y[mask].sum(),
                                                                  p[mask].sum())

    check(np.ones(len(p), bool))
    edges = [0.0, 0.002, 0.01, 0.03, 0.1, 0.3, 1.01]
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (p >= lo) & (p < hi)
        if mask.sum() > 200:
            check(mask)
    assert 0.005 < y.mean() < (0.05 if stage == "sql" else 0.15)


def test_oracle_auc_and_base_rates(oracle_examples):
    sql, p = oracle_examples("sql")
    mql, _ = oracle_examples("mql")
    assert 0.80 <= roc_auc_score(sql["label"], p) <= 0.93
    assert 0.01 <= sql["label"].mean() <= 0.04
    assert mql["label"].mean() > 1.5 * sql["label"].mean()


def test_oracle_uses_only_the_past(tables):
    """Moving a window's opening time further into the future does not change the oracle."""
    truth = tables["truth"]
    cut = DEFAULT_END - pd.Timedelta(days=60)
    closed = truth[(truth["window_rate"] > 0) & (truth["window_open_at"] > cut)
                   & (truth["created_at"] < cut) & ~(truth["sql_at"] <= cut)].head(200)
    ex = pd.DataFrame({"lead_id": closed["lead_id"], "cutoff": cut, "horizon_days": 30})
    p1 = oracle_probability(truth, ex)
    moved = truth.copy()
    moved["window_open_at"] = moved["window_open_at"] + pd.Timedelta(days=3)
    p2 = oracle_probability(moved, ex)
    np.testing.assert_allclose(p1, p2)
    assert (p1 > 0).all()
    # not created yet, or already reached: NaN
    ex2 = pd.DataFrame({"lead_id": [truth["lead_id"].iloc[-1]],
                        "cutoff": [truth["created_at"].iloc[-1] - pd.Timedelta(days=1)],
                        "horizon_days": [30]})
    assert np.isnan(oracle_probability(truth, ex2)).all()
    with pytest.raises(ValueError):
        oracle_probability(truth, ex, stage="customer")


@pytest.mark.parametrize("delay", [0.0, 5.0])
def test_oracle_matches_monte_carlo_for_an_unopened_window(delay):
    """The quadrature over the unknown opening time agrees with simulation of the mechanism,
    with and without a delay between the window's opening and the start of its hazard."""
    rng = np.random.default_rng(0)
    rate, mass, scale, shape, base, h = 1 / 60, 0.8, 14.0, 2.0, 1 / 1600, 30.0
    truth = pd.DataFrame({
        "lead_id": ["L1"], "created_at": pd.to_datetime(["2026-01-01"], utc=True),
        "window_rate": [rate], "window_open_at": pd.to_datetime(["2026-12-01"], utc=True),
        "sql_window_mass": [mass], "sql_base_hazard": [base], "sql_scale_days": [scale],
        "sql_delay_days": [delay], "hazard_shape": [shape],
        "sql_at": pd.to_datetime([None], utc=True),
    })
    ex = pd.DataFrame({"lead_id": ["L1"], "cutoff": pd.to_datetime(["2026-03-01"], utc=True),
                       "horizon_days": [h]})
    p = oracle_probability(truth, ex)[0]
    m = 2_000_000
    w = rng.exponential(1 / rate, m)
    target = rng.exponential(size=m) / mass
    t_win = np.where(target < 1, w + delay + scale * (-np.log1p(-np.minimum(target, 0.999999)))
                     ** (1 / shape), np.inf)
    t = np.minimum(t_win, rng.exponential(1 / base, m))
    mc = (t <= h).mean()
    assert abs(p - mc) < 4 * np.sqrt(mc * (1 - mc) / m)
    if delay == 0.0:  # truth tables from before the delay existed read as delay 0
        assert oracle_probability(truth.drop(columns="sql_delay_days"), ex)[0] == p


def test_oracle_for_an_open_window_in_its_delay():
    """While an opened window is in its delay, only the part of the hazard after the delay
    counts; a cutoff past the whole hazard leaves only the baseline."""
    truth = pd.DataFrame({
        "lead_id": ["L1"], "created_at": pd.to_datetime(["2026-01-01"], utc=True),
        "window_rate": [1 / 60], "window_open_at": pd.to_datetime(["2026-02-01"], utc=True),
        "sql_window_mass": [0.8], "sql_base_hazard": [0.0], "sql_scale_days": [14.0],
        "sql_delay_days": [5.0], "hazard_shape": [2.0], "sql_at": pd.to_datetime([None], utc=True),
    })
    cut = pd.Timestamp("2026-02-03", tz="UTC")  # two days after opening: 3 days of delay left
    ex = pd.DataFrame({"lead_id": ["L1"], "cutoff": [cut], "horizon_days": [10.0]})
    expected = 1 - np.exp(-0.8 * (1 - np.exp(-((7.0 / 14.0) ** 2))))
    assert oracle_probability(truth, ex)[0] == pytest.approx(expected, rel=1e-9)
    late = ex.assign(cutoff=pd.Timestamp("2026-12-01", tz="UTC"))
    assert oracle_probability(truth, late)[0] == pytest.approx(0.0, abs=1e-12)


def test_scorecard_blind_spots(tables):
    """Researchers out-download converters and bots out-browse them, yet neither converts."""
    truth, events = tables["truth"], tables["events"]
    kind = truth.set_index("lead_id")["lead_type"]
    converted = set(tables["outcomes"].loc[tables["outcomes"]["stage"] == "sql", "lead_id"])
    counts = pd.crosstab(events["lead_id"], events["event_type"]).reindex(truth["lead_id"],
                                                                          fill_value=0)
    is_conv = counts.index.isin(converted)
    researchers = (kind.reindex(counts.index) == "researcher").to_numpy()
    bots = (kind.reindex(counts.index) == "bot").to_numpy()
    assert counts.loc[researchers, "content_download"].mean() > \
        1.3 * counts.loc[is_conv, "content_download"].mean()
    assert counts.loc[researchers, "webinar_attend"].mean() > \
        counts.loc[is_conv, "webinar_attend"].mean()
    assert counts.loc[bots, "page_view"].mean() > 1.5 * counts.loc[is_conv, "page_view"].mean()
    assert is_conv[researchers].mean() < 0.01
    assert is_conv[bots].mean() == 0


def test_windows_differ_in_order_and_spacing_not_in_counts(tables):
    """A prospect's window and a tire-kicker's have about as many pricing views, but only the
    prospect's come after the webinar and return to /pricing on a later day."""
    truth, events = tables["truth"], tables["events"]
    opened = truth[truth["window_open_at"] < DEFAULT_END - pd.Timedelta(days=10)]
    ev = events.merge(opened[["lead_id", "lead_type", "window_open_at"]], on="lead_id")
    ev = ev[(ev["ts"] >= ev["window_open_at"]) & (ev["ts"] < ev["window_open_at"]
                                                   + pd.Timedelta(days=10))]
    pricing = ev[ev["event_type"] == "pricing_view"]
    per_lead = pricing.groupby("lead_id").agg(n=("ts", "size"), first=("ts", "min"),
                                              span=("ts", lambda t: t.max() - t.min()))
    per_lead["lead_type"] = per_lead.index.map(opened.set_index("lead_id")["lead_type"])
    attended = ev[ev["event_type"] == "webinar_attend"].groupby("lead_id")["ts"].min()
    per_lead["after_webinar"] = per_lead["first"] > attended.reindex(per_lead.index)
    by_type = per_lead.groupby("lead_type").agg(
        n=("n", "mean"), returned=("span", lambda s: (s > pd.Timedelta(hours=12)).mean()),
        after_webinar=("after_webinar", "mean"))
    pros, tire = by_type.loc["prospect"], by_type.loc["tire_kicker"]
    assert 0.6 < pros["n"] / tire["n"] < 1.4
    # (a tire-kicker's own browsing binges can still add a later pricing view)
    assert pros["returned"] > 0.5 and pros["returned"] > 1.5 * tire["returned"]
    assert pros["after_webinar"] > 0.25 and pros["after_webinar"] > 2 * tire["after_webinar"]


def test_prospects_and_tire_kickers_browse_alike_but_not_in_sessions(tables):
    """Baseline browsing: about the same pages per day, far fewer pages per session for a
    prospect (short visits, often) than for a tire-kicker (rare binges)."""
    truth, events = tables["truth"], tables["events"]
    never_opened = truth["window_open_at"].isna() | (truth["window_open_at"] >= DEFAULT_END)
    closed = truth[never_opened & truth["lead_type"].isin(["prospect", "tire_kicker"])]
    ev = events[events["lead_id"].isin(closed["lead_id"])
                & events["event_type"].isin(["page_view", "pricing_view"])]
    ev = ev.sort_values(["lead_id", "ts"])
    new_session = (ev["lead_id"] != ev["lead_id"].shift()) | (
        ev["ts"].diff() > pd.Timedelta(minutes=30))
    kind = closed.set_index("lead_id")["lead_type"]
    stats = pd.DataFrame({"pages": ev.groupby("lead_id").size(),
                          "sessions": new_session.groupby(ev["lead_id"]).sum()})
    stats = stats.groupby(stats.index.map(kind)).sum()
    pages_per_lead = stats["pages"] / closed["lead_type"].value_counts()
    assert 0.6 < pages_per_lead["prospect"] / pages_per_lead["tire_kicker"] < 1.6
    per_session = stats["pages"] / stats["sessions"]
    assert per_session["tire_kicker"] > 2 * per_session["prospect"]
