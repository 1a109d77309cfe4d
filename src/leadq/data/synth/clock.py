"""The generator's clock: float days after the start of the history to int64 microseconds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadq.data.synth.parameters import DEFAULT_END

US_PER_DAY = 86_400_000_000
NAT = np.iinfo(np.int64).min
MAX_DAYS = 36_500.0  # latent times further than this after the start are stored as NaT


def history_end(ts: pd.Timestamp | str | None) -> pd.Timestamp:
    """The end of the history as a UTC timestamp in microseconds (None: `DEFAULT_END`)."""
    ts = DEFAULT_END if ts is None else pd.Timestamp(ts)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.as_unit("us")


def days_to_us(start_us: int, days: np.ndarray) -> np.ndarray:
    """Float days after the start to int64 microseconds (NaT where not finite or too far)."""
    out = np.full(days.shape, NAT, dtype=np.int64)
    ok = np.isfinite(days) & (days < MAX_DAYS)
    out[ok] = start_us + np.round(days[ok] * US_PER_DAY).astype(np.int64)
    return out
