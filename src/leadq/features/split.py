"""Training cutoffs and their time-ordered split into train, validation and test windows.

A label for cutoff `t` looks at `(t, t + horizon]`. Windows are separated by a gap of at least
`horizon_days`, so no label of an earlier window falls inside a later window and the
validation and test scores are honest forward-in-time estimates.
"""

from dataclasses import dataclass

import pandas as pd

from leadq.core.errors import BadInputError

WINDOWS = ("train", "validation", "test")


@dataclass(frozen=True)
class CutoffSplit:
    """Cutoffs per window, each sorted; `gap_days` is the smallest gap enforced between windows."""

    train: list[pd.Timestamp]
    validation: list[pd.Timestamp]
    test: list[pd.Timestamp]
    gap_days: int

    def window(self, name: str) -> list[pd.Timestamp]:
        """The cutoffs of window `name` ('train', 'validation' or 'test')."""
        return list(getattr(self, name))

    def window_of(self, cutoffs: pd.Series) -> pd.Series:
        """Each cutoff's window name (None for cutoffs dropped in a gap)."""
        lookup = {c: name for name in WINDOWS for c in self.window(name)}
        return pd.Series([lookup.get(c) for c in _as_utc(cutoffs)], index=cutoffs.index)

    def summary(self) -> dict[str, str]:
        """Flat description per window (count, first and last cutoff) for logging."""
        out: dict[str, str] = {"gap_days": str(self.gap_days)}
        for name in WINDOWS:
            cut = self.window(name)
            out[f"{name}_cutoffs"] = str(len(cut))
            out[f"{name}_first"] = cut[0].isoformat()
            out[f"{name}_last"] = cut[-1].isoformat()
        return out


def _as_utc(values) -> pd.Series:
    series = pd.Series(pd.to_datetime(pd.Series(values), utc=True))
    return series


def split_cutoffs(
    cutoffs: list[pd.Timestamp],
    fractions: tuple[float, float, float],
    gap_days: int,
    horizon_days: int | None = None,
) -> CutoffSplit:
    """Split cutoffs in time order into train/validation/test with `gap_days` between windows.

    Cutoffs are first divided by the fractions (train, validation, test) of their count; then
    the earlier window's cutoffs closer than `gap_days` to the next window's first cutoff are
    dropped (purged), so `next_first - previous_last >= gap_days`. `gap_days` below
    `horizon_days` is refused. A history too short for three non-empty windows is a one-line
    BadInputError.
    """
    if horizon_days is not None and gap_days < horizon_days:
        raise BadInputError(
            f"split gap of {gap_days} days is shorter than the {horizon_days}-day horizon: "
            "labels would leak into the next window"
        )
    ordered = sorted(set(_as_utc(cutoffs)))
    n = len(ordered)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    raw = [ordered[:n_train], ordered[n_train : n_train + n_val], ordered[n_train + n_val :]]
    gap = pd.Timedelta(days=gap_days)
    windows = []
    for i, window in enumerate(raw):
        nxt = raw[i + 1] if i + 1 < len(raw) else []
        if nxt:
            window = [c for c in window if nxt[0] - c >= gap]
        windows.append(window)
    if any(len(w) == 0 for w in windows):
        span = f"{ordered[0].date()} to {ordered[-1].date()}" if ordered else "no cutoffs"
        counts = ", ".join(f"{name} {len(w)}" for name, w in zip(WINDOWS, windows))
        raise BadInputError(
            f"history too short: {n} cutoffs ({span}) leave {counts} after {gap_days}-day gaps; "
            "use a longer history, a shorter cadence or horizon"
        )
    return CutoffSplit(train=windows[0], validation=windows[1], test=windows[2], gap_days=gap_days)


def split_examples(
    examples: pd.DataFrame,
    fractions: tuple[float, float, float],
    gap_days: int,
    horizon_days: int | None = None,
) -> tuple[pd.DataFrame, pd.Series, CutoffSplit]:
    """Snapshot examples in (cutoff, lead_id) order, the window of each (NaN in a purged gap)
    and the split of their cutoffs: the one split training and everything that rebuilds its
    windows (`leadq compare`, learned scorecards) share."""
    ordered = examples.assign(cutoff=pd.to_datetime(examples["cutoff"], utc=True))
    ordered = ordered.sort_values(["cutoff", "lead_id"], kind="stable").reset_index(drop=True)
    split = split_cutoffs(list(ordered["cutoff"].unique()), fractions, gap_days, horizon_days)
    return ordered, split.window_of(ordered["cutoff"]), split
