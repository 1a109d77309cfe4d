"""`leadq demo`: the whole pipeline on generated data with built-in defaults."""

import time
from collections.abc import Callable
from pathlib import Path

from leadq.generation import generate_to_dir
from leadq.pipeline_features import features_to_file
from leadq.synth import DEFAULT_END


def run_demo(out: Path, n_leads: int = 20_000, seed: int = 0, echo: Callable[[str], None] = print) -> None:
    """Generate data into `out`, then build features as of the end of the history."""
    out = Path(out)
    started = time.perf_counter()
    counts = generate_to_dir(out, n_leads=n_leads, seed=seed)
    echo(f"[demo] generated {counts['leads']:,} leads, {counts['events']:,} events, "
         f"{counts['outcomes']:,} outcomes in {out}")
    features_path = out / "features.parquet"
    n_rows, report = features_to_file(out, DEFAULT_END.isoformat(), features_path)
    for line in report:
        echo(f"[demo] warning: {line}")
    echo(f"[demo] features of {n_rows:,} open leads as of {DEFAULT_END.date()} written to {features_path}")
    echo(f"[demo] done in {time.perf_counter() - started:.1f} s")
