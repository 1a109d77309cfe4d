"""Benchmark: what the exact-duplicate check adds to loading events, against the sort the feature
engine already does on the same arrays.

    python benchmarks/bench_load_checks.py [--events 10000000] [--leads 1000000] [--duplicated 0.1]

Builds event arrays shaped like `leadq.data.load.EventColumns` (seeded numpy: lead keys, epoch
microseconds over a year, 13 type codes, page and content hashes, durations with a third
missing) and times, each the best of `--repeats` runs:

- `exact_duplicates` on clean arrays (the usual case: one hash, one sort, no duplicate found);
- `exact_duplicates` with `--duplicated` of the rows delivered twice (the candidates are then
  compared value by value);
- the baseline: `leadq.features.arrays.lead_time_order`, the (lead, time) sort every feature
  build does on the same events.

Prints seconds, events/s and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from leadq.data.integrity import exact_duplicates
from leadq.features.arrays import lead_time_order


def event_columns(n_events: int, n_leads: int, seed: int) -> dict[str, np.ndarray]:
    """Seeded event arrays with the columns `exact_duplicates` reads."""
    rng = np.random.default_rng(seed)
    start_us = 1_750_000_000_000_000
    duration = rng.exponential(60.0, n_events)
    duration[rng.random(n_events) < 0.33] = np.nan
    return {
        "lead_key": rng.integers(1, n_leads + 1, n_events, dtype=np.int32),
        "us": start_us + rng.integers(0, 365 * 86_400_000_000, n_events, dtype=np.int64),
        "type_code": rng.integers(0, 13, n_events, dtype=np.int32),
        "page_hash": rng.integers(1, 2**63, 200, dtype=np.uint64)[rng.integers(0, 200, n_events)],
        "content_hash": rng.integers(1, 2**63, 50, dtype=np.uint64)[rng.integers(0, 50, n_events)],
        "duration_s": duration,
    }


def with_duplicates(columns: dict[str, np.ndarray], share: float, seed: int) -> dict[str, np.ndarray]:
    """The same events with a seeded `share` of them appended a second time."""
    rng = np.random.default_rng(seed + 1)
    n = len(columns["us"])
    again = rng.choice(n, int(n * share), replace=False)
    return {name: np.concatenate([values, values[again]]) for name, values in columns.items()}


def best_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--leads", type=int, default=1_000_000)
    p.add_argument("--duplicated", type=float, default=0.1, help="share of events delivered twice")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    clean = event_columns(args.events, args.leads, args.seed)
    doubled = with_duplicates(clean, args.duplicated, args.seed)
    found = exact_duplicates(doubled)
    n_found = 0 if found is None else int(found.sum())
    assert exact_duplicates(clean) is None, "random events should hold no exact duplicate"

    baseline = best_seconds(lambda: lead_time_order(clean["lead_key"], clean["us"]), args.repeats)
    rows = [
        ("(lead, time) sort, the engine's (baseline)", len(clean["us"]), baseline),
        ("exact_duplicates, none present", len(clean["us"]),
         best_seconds(lambda: exact_duplicates(clean), args.repeats)),
        (f"exact_duplicates, {n_found:,} present", len(doubled["us"]),
         best_seconds(lambda: exact_duplicates(doubled), args.repeats)),
    ]
    print(f"{'step':<46} {'events':>12} {'seconds':>8} {'events/s':>12} {'x baseline':>10}")
    for name, n, seconds in rows:
        print(f"{name:<46} {n:>12,} {seconds:>8.2f} {n / seconds:>12,.0f} {seconds / baseline:>10.2f}")


if __name__ == "__main__":
    main()
