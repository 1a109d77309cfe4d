"""A shifted synthetic funnel: unchanged before the date, changed after it, the oracle exact."""

import numpy as np
import pandas as pd
import pytest

from leadq.data.shift import FunnelShift, warp_base_times, warp_window_targets
from leadq.data.synth import DEFAULT_END, generate, oracle_probability

SHIFT_AT = pd.Timestamp("2026-02-01", tz="UTC")
TIME_COLUMNS = {"leads": "created_at", "events": "ts", "outcomes": "reached_at"}


def _before(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    part = frame[frame[column] < SHIFT_AT]
    return part.sort_values(list(part.columns)).reset_index(drop=True)


@pytest.mark.parametrize("kind", ["conversion", "events"])
def test_nothing_changes_before_the_date(kind):
    plain = generate(3000, seed=3)
    shifted = generate(3000, seed=3, shift=FunnelShift.of(kind, SHIFT_AT))
    for table, column in TIME_COLUMNS.items():
        pd.testing.assert_frame_equal(_before(plain[table], column), _before(shifted[table], column))
    pd.testing.assert_frame_equal(plain["leads"], shifted["leads"])


def test_events_shift_logs_most_pricing_views_as_page_views():
    plain = generate(3000, seed=3)
    shifted = generate(3000, seed=3, shift=FunnelShift.of("events", SHIFT_AT, 0.8))
    after = plain["events"]["ts"] >= SHIFT_AT
    was_pricing = after & (plain["events"]["event_type"] == "pricing_view")
    now_pricing = shifted["events"]["event_type"] == "pricing_view"
    kept = now_pricing[was_pricing].mean()
    assert abs(kept - 0.2) < 4 * np.sqrt(0.2 * 0.8 / was_pricing.sum())
    assert (shifted["events"]["event_type"][was_pricing & ~now_pricing] == "page_view").all()
    assert (shifted["events"]["page"][was_pricing] == "/pricing").all()  # the page is the same
    pd.testing.assert_frame_equal(plain["outcomes"], shifted["outcomes"])  # outcomes never see events


def test_warps_keep_times_before_the_change_and_stretch_the_rest():
    # constant hazard 0.1/day from day 0; change at day 10 with factor 0.5: a lead due at day
    # 14 (cumulative 1.4) spends 1.0 by day 10, the remaining 0.4 at 0.05/day takes 8 days.
    times = warp_base_times(np.array([5.0, 14.0, np.inf]), np.zeros(3), 10.0, 0.5)
    np.testing.assert_allclose(times, [5.0, 18.0, np.inf])
    # created after the change: the whole clock runs at the new rate
    np.testing.assert_allclose(warp_base_times(np.array([24.0]), np.array([20.0]), 10.0, 0.5), [28.0])
    targets = warp_window_targets(np.array([0.2, 0.5, 0.9]), np.array([0.3, 0.3, 0.3]), 0.5)
    np.testing.assert_allclose(targets, [0.2, 0.7, 1.5])


def _brute_force_probability(rate, mass, scale, shape, delay, base, horizon, shift_day, factor,
                             opened_days_ago=None, steps=20_000):
    """P(convert in (0, H]) by trapezoid sums of the hazard DENSITY on a fine grid (no CDF and no
    closed-form warp), averaged over the window's opening time on a grid when it is unopened."""
    t = np.linspace(0.0, horizon, steps + 1)
    multiplier = np.where(t >= shift_day, factor, 1.0)

    def weibull_density(x):
        x = np.maximum(x, 0.0)
        return np.where(x > 0, shape / scale * (x / scale) ** (shape - 1) * np.exp(-(x / scale) ** shape), 0.0)

    def survival(opening):  # opening: days after the cutoff (negative: already open)
        hazard = (base + mass * weibull_density(t - opening - delay)) * multiplier
        return np.exp(-np.trapezoid(hazard, t))

    if opened_days_ago is not None:
        return 1.0 - survival(-opened_days_ago)
    w = np.linspace(0.0, horizon, 2001)
    inside = np.trapezoid([rate * np.exp(-rate * x) * survival(x) for x in w], w)
    never = np.exp(-rate * horizon) * np.exp(-np.trapezoid(base * multiplier, t))
    return 1.0 - (inside + never)


@pytest.mark.parametrize("opened_days_ago", [None, 3.0])
@pytest.mark.parametrize("shift_day, factor", [(12.0, 0.4), (-5.0, 0.4), (12.0, 2.5), (np.inf, 1.0)])
def test_oracle_integrates_the_shifted_hazard(opened_days_ago, shift_day, factor):
    rate, mass, scale, shape, delay, base, h = 1 / 40, 0.9, 14.0, 2.0, 4.0, 1 / 900, 30.0
    cut = pd.Timestamp("2026-03-01", tz="UTC")
    opened = (cut - pd.Timedelta(days=opened_days_ago) if opened_days_ago is not None
              else pd.Timestamp("2026-12-01", tz="UTC"))
    truth = pd.DataFrame({
        "lead_id": ["L1"], "created_at": pd.to_datetime(["2026-01-01"], utc=True),
        "window_rate": [rate], "window_open_at": [opened],
        "sql_window_mass": [mass], "sql_base_hazard": [base], "sql_scale_days": [scale],
        "sql_delay_days": [delay], "hazard_shape": [shape], "sql_at": pd.to_datetime([None], utc=True),
        "hazard_shift_at": [cut + pd.Timedelta(days=shift_day) if np.isfinite(shift_day) else pd.NaT],
        "hazard_factor_after": [factor],
    })
    examples = pd.DataFrame({"lead_id": ["L1"], "cutoff": [cut], "horizon_days": [h]})
    expected = _brute_force_probability(rate, mass, scale, shape, delay, base, h, shift_day, factor,
                                        opened_days_ago)
    assert oracle_probability(truth, examples)[0] == pytest.approx(expected, abs=2e-5)


@pytest.mark.parametrize("kind", ["conversion", "buyers"])
def test_generated_conversions_after_the_shift_match_the_oracle(kind):
    """Generator and oracle agree on a hazard shift: expected conversions (the oracle's sum)
    match the observed ones after the date, overall and per band; the unshifted oracle does not
    (in total for `conversion`, among tire-kickers for `buyers`)."""
    tables = generate(20_000, seed=11, shift=FunnelShift.of(kind, SHIFT_AT))
    leads, outcomes = tables["leads"], tables["outcomes"]
    created = leads["created_at"].to_numpy(dtype="datetime64[us]")
    sql_at = leads["lead_id"].map(outcomes[outcomes["stage"] == "sql"].set_index("lead_id")["reached_at"])
    reached = sql_at.to_numpy(dtype="datetime64[us]")
    frames = []
    for week in range(16):  # cutoffs from the shift to the last one with a whole horizon
        cut = DEFAULT_END - pd.Timedelta(days=30) - pd.Timedelta(weeks=week)
        c = np.datetime64(cut.tz_localize(None), "us")
        keep = (created < c) & ~(reached <= c)
        label = (reached > c) & (reached <= c + np.timedelta64(30, "D"))
        frames.append(pd.DataFrame({"lead_id": leads["lead_id"].to_numpy()[keep], "cutoff": cut,
                                    "horizon_days": 30, "label": label[keep]}))
    examples = pd.concat(frames, ignore_index=True)
    assert examples["cutoff"].min() >= SHIFT_AT
    y = examples["label"].to_numpy()
    p = oracle_probability(tables["truth"], examples, "sql")
    unshifted = oracle_probability(tables["truth"].drop(columns=["hazard_shift_at", "hazard_factor_after"]),
                                   examples, "sql")
    deff = np.sqrt(30 / 7)  # overlapping horizons of consecutive weekly cutoffs
    for mask in [np.ones(len(p), bool), p < 0.01, (p >= 0.01) & (p < 0.05), p >= 0.05]:
        se = np.sqrt((p[mask] * (1 - p[mask])).sum()) * deff
        assert abs(y[mask].sum() - p[mask].sum()) <= 4 * se + 2
    if kind == "conversion":
        assert unshifted.sum() > 1.8 * y.sum()
    else:
        kickers = examples["lead_id"].map(tables["truth"].set_index("lead_id")["lead_type"]).eq("tire_kicker").to_numpy()
        assert y[kickers].sum() > 2 * unshifted[kickers].sum()
        assert abs(y[kickers].sum() - p[kickers].sum()) <= 4 * np.sqrt((p[kickers] * (1 - p[kickers])).sum()) * deff + 2


def test_shift_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown shift kind"):
        FunnelShift.of("weather", SHIFT_AT)
    with pytest.raises(ValueError, match="above 0"):
        FunnelShift.of("conversion", SHIFT_AT, 0.0)
    with pytest.raises(ValueError, match="above 0"):
        FunnelShift.of("buyers", SHIFT_AT, -1.0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        FunnelShift.of("events", SHIFT_AT, 1.5)
    assert FunnelShift.of("events", "2026-02-01").after == SHIFT_AT


def test_generate_command_takes_a_shift(tmp_path):
    from typer.testing import CliRunner

    from leadq.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["generate", "--out", str(tmp_path / "d"), "--leads", "300", "--shift", "buyers",
                             "--shift-after", "2026-02-01", "--shift-factor", "0.5"])
    assert ok.exit_code == 0, ok.output
    truth = pd.read_parquet(tmp_path / "d" / "truth.parquet")
    assert set(truth.loc[truth["lead_type"] == "prospect", "hazard_factor_after"]) == {0.5}
    assert set(truth.loc[truth["lead_type"] == "tire_kicker", "hazard_factor_after"]) == {2.0}
    assert (truth["hazard_shift_at"] == SHIFT_AT).all()
    for args, message in ((["--shift", "conversion"], "--shift and --shift-after go together"),
                          (["--shift", "weather", "--shift-after", "2026-02-01"], "unknown shift kind 'weather'")):
        bad = runner.invoke(app, ["generate", "--out", str(tmp_path / "bad"), "--leads", "300", *args])
        assert bad.exit_code == 2 and message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "bad").exists()
