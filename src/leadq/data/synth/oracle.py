"""The oracle: the true probability that a lead reaches a stage within a horizon after a cutoff,
given only the latent state at the cutoff (see `leadq.data.synth` for the formula)."""

import numpy as np
import pandas as pd

from leadq.data.synth.clock import US_PER_DAY
from leadq.data.synth.funnel import weibull_cdf
from leadq.data.synth.parameters import ORACLE_STAGES

_GL_X, _GL_W = np.polynomial.legendre.leggauss(48)
_GL_X = (_GL_X + 1.0) / 2.0  # nodes on [0, 1]
_GL_W = _GL_W / 2.0


def _days(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Timestamps to float days since the epoch (NaT -> +inf)."""
    s = pd.Series(ts)
    if s.dt.tz is None:
        s = s.dt.tz_localize("UTC")
    us = s.dt.tz_convert("UTC").astype("datetime64[us, UTC]").array.asi8.astype(np.float64)
    us[s.isna().to_numpy()] = np.inf
    return us / US_PER_DAY


def oracle_probability(truth: pd.DataFrame, examples: pd.DataFrame,
                       stage: str = "sql") -> np.ndarray:
    """True probability that each example's lead reaches ``stage`` within its horizon.

    For each row (lead, cutoff ``c``, horizon ``H``) this is
    P(reach ``stage`` in ``(c, c + H]`` | latent state at ``c``, not reached by ``c``), exact
    under the generating mechanism (see `leadq.data.synth`). It uses only what the mechanism
    knew at the cutoff: a buying window that opens after ``c`` enters through its exponential
    waiting-time distribution, never through its realised opening time.

    Args:
        truth: The ``truth`` table from `generate`.
        examples: Columns ``lead_id``, ``cutoff`` (timestamp; naive means UTC) and
            ``horizon_days`` (number).
        stage: ``"sql"`` or ``"mql"``.

    Returns:
        A float array aligned with ``examples``; NaN where the lead did not exist at the cutoff
        or had already reached the stage by then.

    Raises:
        ValueError: If the stage has no oracle or a lead_id is not in ``truth``.
    """
    if stage not in ORACLE_STAGES:
        raise ValueError(f"no oracle for stage {stage!r}; choose one of {ORACLE_STAGES}")
    pos = pd.Index(truth["lead_id"]).get_indexer(examples["lead_id"])
    if (pos < 0).any():
        raise ValueError(f"{int((pos < 0).sum())} example lead_id(s) are not in truth")
    hazards = ("sql",) if stage == "sql" else ("mql", "sql")
    c = _days(examples["cutoff"])
    h = examples["horizon_days"].to_numpy(dtype=np.float64)
    created = _days(truth["created_at"])[pos]
    opened_at = _days(truth["window_open_at"])[pos]
    reached = _days(truth[f"{stage}_at"])[pos]
    rate = truth["window_rate"].to_numpy(np.float64)[pos]
    shape = truth["hazard_shape"].to_numpy(np.float64)[pos]
    base = sum(truth[f"{j}_base_hazard"].to_numpy(np.float64)[pos] for j in hazards)
    mass = [truth[f"{j}_window_mass"].to_numpy(np.float64)[pos] for j in hazards]
    scale = [truth[f"{j}_scale_days"].to_numpy(np.float64)[pos] for j in hazards]
    # truth tables written before the hazard delay existed have no delay column: delay 0
    delay = [truth[f"{j}_delay_days"].to_numpy(np.float64)[pos] if f"{j}_delay_days" in truth
             else np.zeros(pos.size) for j in hazards]

    # A conversion shift (`leadq.data.shift`) multiplies every hazard by `factor` from
    # `shift_at` on: each cumulative hazard over (c, c + H] is its part before the shift plus
    # `factor` times its part after (`mid` splits the horizon; no shift: mid = c + H).
    shift_at = (_days(truth["hazard_shift_at"])[pos] if "hazard_shift_at" in truth
                else np.full(pos.size, np.inf))
    factor = (truth["hazard_factor_after"].to_numpy(np.float64)[pos] if "hazard_factor_after" in truth
              else np.ones(pos.size))
    mid = np.clip(shift_at - c, 0.0, h)  # days after the cutoff where the factor starts

    def warped(before_mid, at_mid, at_end, k):
        return (at_mid - before_mid) + k * (at_end - at_mid)

    no_shift = bool((mid == h).all())  # then the CDF at the shift is the CDF at the end: computed once

    def cdf_at_mid_and_end(x_mid, x_end, scale_days, shape_k):
        at_end = weibull_cdf(x_end, scale_days, shape_k)
        return (at_end if no_shift else weibull_cdf(x_mid, scale_days, shape_k)), at_end

    surv = np.exp(-base * warped(0.0, mid, h, factor))
    is_open = opened_at <= c
    o = np.flatnonzero(is_open)
    if o.size:
        since = c[o] - opened_at[o]  # days the window has been open at the cutoff
        cum = sum(a[o] * warped(weibull_cdf(since - d[o], sc[o], shape[o]),
                                *cdf_at_mid_and_end(since + mid[o] - d[o], since + h[o] - d[o], sc[o], shape[o]),
                                factor[o])
                  for a, sc, d in zip(mass, scale, delay))
        surv[o] *= np.exp(-cum)
    closed = np.flatnonzero(~is_open & (rate > 0))
    for chunk in np.array_split(closed, max(1, closed.size // 200_000)):
        if chunk.size == 0:
            continue
        lam, hh, mm, kk = rate[chunk, None], h[chunk, None], mid[chunk, None], factor[chunk, None]
        # The integrand has a kink where each hazard's start (opening + delay) reaches the
        # horizon end, w = H - delay_j, or the shift, w = mid - delay_j: integrate piecewise
        # between those points.
        points = np.sort(np.concatenate(
            [np.zeros_like(hh), hh] + [np.clip(end - d[chunk, None], 0.0, hh)
                                       for d in delay for end in (hh, mm)],
            axis=1), axis=1)
        integral = np.zeros(chunk.size)
        for k in range(points.shape[1] - 1):
            # Only the rows whose piece has a width: without a shift or a delay, most of the
            # points coincide.
            live = np.flatnonzero(points[:, k + 1] > points[:, k])
            if live.size == 0:
                continue
            rows = chunk[live, None]
            lo, width = points[live, k:k + 1], points[live, k + 1:k + 2] - points[live, k:k + 1]
            w = lo + width * _GL_X[None, :]  # opening delay after the cutoff
            cum = sum(a[rows] * warped(0.0, *cdf_at_mid_and_end(mm[live] - w - d[rows], hh[live] - w - d[rows],
                                                                sc[rows], shape[rows]), kk[live])
                      for a, sc, d in zip(mass, scale, delay))
            integral[live] += width[:, 0] * (_GL_W[None, :] * lam[live] * np.exp(-lam[live] * w - cum)).sum(axis=1)
        surv[chunk] *= np.exp(-lam[:, 0] * hh[:, 0]) + integral
    p = 1.0 - surv
    p[(created > c) | (reached <= c)] = np.nan
    return np.clip(p, 0.0, 1.0, where=~np.isnan(p), out=p)

