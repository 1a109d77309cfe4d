"""A change of the synthetic funnel after a date, to test monitoring on (`leadq generate --shift`).

Three kinds, each leaving everything before the date exactly as the unshifted generator draws it
(same seed, same leads, events and outcomes up to the date), and the oracle exact after it:

- ``conversion``: from the date on, every lead's conversion hazards (its baseline and its
  buying window's, for every stage) are multiplied by ``factor`` (default 0.4: a lead converts
  at 40 % of the former rate). Stage times are redrawn by warping each hazard's cumulative
  clock (`warp_base_times`, `warp_window_targets`); no random number is drawn, so nothing else
  moves. The truth table carries ``hazard_shift_at`` and ``hazard_factor_after`` and
  `leadq.data.synth.oracle_probability` integrates the piecewise hazard. Ranking by the true
  probability is unchanged (the probability is monotone in the cumulative hazard), so a model
  keeps its ranking and loses its calibration.
- ``buyers``: from the date on, the buyers change: prospects' conversion hazards are multiplied
  by ``factor`` (default 0.3) and tire-kickers' by its inverse (a price cut that wins bargain
  hunters while the ideal customers stall), through the same warp with a factor per lead. The
  engagement that told buyers apart now points the wrong way, so a model loses its ranking.
- ``events``: from the date on, a tracking change records a share ``factor`` (default 0.8) of
  pricing-page views as plain page views. Outcomes never depend on events, so the oracle is
  untouched; a model that relies on pricing-page behaviour loses ranking.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

SHIFT_KINDS = ("conversion", "buyers", "events")
DEFAULT_FACTOR = {"conversion": 0.4, "buyers": 0.3, "events": 0.8}
HAZARD_KINDS = ("conversion", "buyers")


@dataclass(frozen=True)
class FunnelShift:
    """What changes (`kind`), from when (`after`, UTC) and by how much (`factor`)."""

    kind: str
    after: pd.Timestamp
    factor: float

    @classmethod
    def of(cls, kind: str, after, factor: float | None = None) -> "FunnelShift":
        """A validated shift; `factor` None takes the kind's default. Raises ValueError."""
        if kind not in SHIFT_KINDS:
            raise ValueError(f"unknown shift kind '{kind}'; choose one of {', '.join(SHIFT_KINDS)}")
        factor = DEFAULT_FACTOR[kind] if factor is None else float(factor)
        if kind in HAZARD_KINDS and not factor > 0:
            raise ValueError(f"a {kind} shift needs a factor above 0 (got {factor:g})")
        if kind == "events" and not 0 <= factor <= 1:
            raise ValueError(f"an events shift needs a share between 0 and 1 (got {factor:g})")
        stamp = pd.Timestamp(after)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return cls(kind=kind, after=stamp, factor=factor)


def hazard_factors(shift: FunnelShift, lead_types: np.ndarray, type_names: tuple[str, ...]) -> np.ndarray:
    """Each lead's hazard multiplier after the shift (1 for leads the shift leaves alone)."""
    if shift.kind == "conversion":
        return np.full(len(lead_types), shift.factor)
    factors = np.ones(len(lead_types))
    factors[lead_types == type_names.index("prospect")] = shift.factor
    factors[lead_types == type_names.index("tire_kicker")] = 1.0 / shift.factor
    return factors


def warp_base_times(t_base: np.ndarray, created: np.ndarray, shift_day: float,
                    factor: np.ndarray | float) -> np.ndarray:
    """Times of a constant hazard started at `created`, when it is multiplied by `factor` from
    `shift_day` on (all in days). A time before the change stands; a later one has the rest of
    its cumulative hazard spent at the new rate: t' = s + (t - s) / factor, s = max(shift,
    created)."""
    start = np.maximum(shift_day, created)
    with np.errstate(invalid="ignore"):
        late = t_base > start
    return np.where(late, start + (t_base - start) / factor, t_base)


def warp_window_targets(target: np.ndarray, at_shift: np.ndarray, factor: np.ndarray | float) -> np.ndarray:
    """A window hazard's target level of its CDF G (reached when G(t - start) = target), when the
    hazard is multiplied by `factor` from the change on; `at_shift` is G at the change (floored
    at its value at creation). Mass spent before the change counts once, the rest at the new
    rate: target' = g + (target - g) / factor past g."""
    with np.errstate(invalid="ignore"):
        late = target > at_shift
    return np.where(late, at_shift + (target - at_shift) / factor, target)


def relabel_events(event_codes: np.ndarray, ts_us: np.ndarray, after_us: int, share: float,
                   from_code: int, to_code: int, seed: int) -> np.ndarray:
    """Event type codes with a `share` of the `from_code` events at or after `after_us` recorded
    as `to_code`; drawn from their own seeded generator, so the caller's stream is untouched."""
    rng = np.random.default_rng([seed, 0x5F1F7])
    draw = rng.random(len(event_codes)) < share
    change = (event_codes == from_code) & (ts_us >= after_us) & draw
    out = np.array(event_codes, copy=True)
    out[change] = to_code
    return out
