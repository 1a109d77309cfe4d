"""The conversion process: when each lead reaches MQL, SQL and customer.

Stage hazards depend only on the latent state (`population.LatentLeads`), never on the events: a
small baseline per type plus a Weibull-shaped mass after the buying window opens (and its
delay); a conversion shift (`leadq.data.shift`) warps them from its date on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leadq.data.shift import HAZARD_KINDS, FunnelShift, hazard_factors, warp_base_times, warp_window_targets
from leadq.data.synth.clock import NAT, US_PER_DAY
from leadq.data.synth.parameters import (
    CUSTOMER_PROB, HAZARD_SHAPE, LEAD_TYPES, MQL_BASE, MQL_DELAY_DAYS, MQL_MASS, MQL_SCALE_DAYS,
    SQL_BASE, SQL_DELAY_DAYS, SQL_MASS, SQL_SCALE_DAYS,
)
from leadq.data.synth.population import LatentLeads


def weibull_cdf(x: np.ndarray, scale: np.ndarray | float, shape: np.ndarray | float) -> np.ndarray:
    """Weibull CDF, zero for x <= 0."""
    x = np.maximum(x, 0.0)
    return -np.expm1(-((x / scale) ** shape))


@dataclass(frozen=True)
class StageTimes:
    """Each lead's stage times (float days after the start; inf: never) and the hazard
    parameters behind them, as the truth table records them."""

    mql: np.ndarray
    sql: np.ndarray
    customer: np.ndarray
    sql_window_mass: np.ndarray
    mql_window_mass: np.ndarray
    sql_base_hazard: np.ndarray
    mql_base_hazard: np.ndarray
    hazard_shift_us: int  # when a conversion shift starts (NAT: none)
    hazard_factor_after: np.ndarray


def draw_stage_times(rng: np.random.Generator, leads: LatentLeads, shift: FunnelShift | None,
                     start_us: int) -> StageTimes:
    """Draw when each lead reaches sql, mql (never after its sql) and customer (after its sql).

    A shift of a hazard kind multiplies the hazards from its date on; `start_us` is the start
    of the history (microseconds), where day 0 is.
    """
    n, ltype, strength = leads.created.size, leads.lead_type, leads.strength
    sql_mass = SQL_MASS[ltype] * strength
    mql_mass = MQL_MASS[ltype] * strength
    sql_base = SQL_BASE[ltype]
    mql_base = MQL_BASE[ltype]
    conversion = shift if shift is not None and shift.kind in HAZARD_KINDS else None
    shift_day = ((conversion.after.value // 1000 - start_us) / US_PER_DAY if conversion else np.inf)
    factor = hazard_factors(conversion, ltype, LEAD_TYPES) if conversion else np.ones(n)

    sql_t = _stage_time(rng, leads, sql_mass, SQL_SCALE_DAYS, SQL_DELAY_DAYS, sql_base, conversion,
                        shift_day, factor)
    mql_t = np.minimum(_stage_time(rng, leads, mql_mass, MQL_SCALE_DAYS, MQL_DELAY_DAYS, mql_base,
                                   conversion, shift_day, factor), sql_t)
    cust_t = np.where(rng.random(n) < CUSTOMER_PROB[ltype],
                      sql_t + 20.0 + rng.exponential(40.0, size=n), np.inf)
    return StageTimes(mql=mql_t, sql=sql_t, customer=cust_t, sql_window_mass=sql_mass,
                      mql_window_mass=mql_mass, sql_base_hazard=sql_base, mql_base_hazard=mql_base,
                      hazard_shift_us=conversion.after.value // 1000 if conversion else NAT,
                      hazard_factor_after=factor)


def _stage_time(rng, leads, mass, scale, delay, base, conversion, shift_day, factor):
    """One stage's first time: the earlier of its baseline hazard's and its window hazard's."""
    n, created, window = leads.created.size, leads.created, leads.window_open
    with np.errstate(divide="ignore", invalid="ignore"):
        t_base = created + rng.exponential(size=n) / base
        start = window + delay  # the window's hazard starts `delay` days after it opens
        u0 = np.where(np.isfinite(start), np.maximum(created - start, 0.0), 0.0)
        target = weibull_cdf(u0, scale, HAZARD_SHAPE) + rng.exponential(size=n) / mass
        if conversion is not None:  # hazards times the factor from the shift on
            t_base = warp_base_times(t_base, created, shift_day, factor)
            at_shift = weibull_cdf(np.maximum(shift_day - start, u0), scale, HAZARD_SHAPE)
            target = warp_window_targets(target, at_shift, factor)
        ok = np.isfinite(start) & (target < 1.0)
        t_win = np.full(n, np.inf)
        t_win[ok] = start[ok] + scale * (-np.log1p(-target[ok])) ** (1 / HAZARD_SHAPE)
    return np.minimum(t_base, t_win)
