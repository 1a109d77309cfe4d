"""Vectorised random draws: categorical rows, per-lead Poisson processes, durations."""

from __future__ import annotations

import numpy as np


def draw_categories(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of `probs` (rows need not be normalised)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cum[:, -1]
    return np.minimum((u[:, None] >= cum).sum(axis=1), probs.shape[1] - 1)


def poisson_times(rng, rate, t0, t1):
    """Homogeneous Poisson process per lead on (t0, t1): returns (lead index, times)."""
    length = np.maximum(t1 - t0, 0.0)
    counts = rng.poisson(rate * length)
    lead = np.repeat(np.arange(len(rate), dtype=np.int32), counts)
    return lead, t0[lead] + rng.random(lead.size) * length[lead]


def decaying_times(rng, mass, tau, t0, t1):
    """Poisson process with intensity mass/tau*exp(-(t-t0)/tau) on (t0, t1) per lead."""
    length = np.maximum(t1 - t0, 0.0)
    frac = -np.expm1(-length / tau)
    counts = rng.poisson(mass * frac)
    lead = np.repeat(np.arange(len(mass), dtype=np.int32), counts)
    u = rng.random(lead.size) * frac[lead]
    return lead, t0[lead] - tau * np.log1p(-u)


def group_cumsum(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running sums of ``values`` within consecutive groups of sizes ``counts``."""
    total = np.cumsum(values)
    start = np.repeat(np.cumsum(counts) - counts, counts)
    return total - np.concatenate([[0.0], total])[start]


def durations(rng, mean_log: np.ndarray | float, sd: float, n: int) -> np.ndarray:
    """`n` log-normal durations in seconds (log mean `mean_log`, log sd `sd`) plus half a second."""
    return np.exp(mean_log + sd * rng.standard_normal(n)).astype(np.float32) + np.float32(0.5)

