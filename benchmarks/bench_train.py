"""Benchmark: training time and peak RSS on ~200,000 snapshot rows (a script, not a test).

Builds snapshot examples from generated data, then times leadq's `train_models` (both targets,
both candidates, calibration, thresholds, importances) against a plain baseline measured in the
same run: one bare HistGradientBoostingClassifier per target on the same training rows. Each
measurement runs in its own process so peak RSS is its own.

    python benchmarks/bench_train.py [--leads 100000] [--rows 200000]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def _examples(args):
    import pandas as pd

    from leadq.config import load_config
    from leadq.features.examples import build_examples, infer_attribute_spec, snapshot_cutoffs
    from leadq.data.load import load_data

    data = load_data(args.data_dir, clock=pd.Timestamp("2030-01-01", tz="UTC"))
    config = load_config(None)
    spec = infer_attribute_spec(data, config.features)
    cutoffs = snapshot_cutoffs(data, config.snapshots.cadence_days, config.horizon_days)
    per_cutoff = max(1, args.rows // len(cutoffs))
    examples = build_examples(data, spec, cutoffs, config.targets, config.horizon_days, per_cutoff, config.seed)
    return examples, spec, config


def child(args) -> dict:
    examples, spec, config = _examples(args)
    started = time.perf_counter()
    if args.engine == "leadq":
        from leadq.models.train import train_models

        result = train_models(examples, spec, config)
        detail = {t: round(tm.test["roc_auc"], 4) for t, tm in result.targets.items()}
    else:
        from sklearn.ensemble import HistGradientBoostingClassifier

        numeric = spec.numeric_columns()
        detail = {}
        for target in config.targets:
            rows = examples[examples[f"label_{target}"].notna()]
            HistGradientBoostingClassifier(max_iter=200, random_state=0).fit(rows[numeric], rows[f"label_{target}"])
            detail[target] = len(rows)
    seconds = time.perf_counter() - started
    return {"engine": args.engine, "rows": len(examples), "seconds": seconds, "detail": detail,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=200_000, help="snapshot rows to train on")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--engine", choices=["leadq", "baseline"], default=None)
    args = parser.parse_args()
    args.data_dir = args.data_dir or Path(f"/tmp/leadq-bench/train_leads_{args.leads}")
    if args.engine:
        print(json.dumps(child(args)))
        return
    if not (args.data_dir / "events.parquet").exists():
        from leadq.steps.generate import generate_to_dir

        generate_to_dir(args.data_dir, n_leads=args.leads, seed=0)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    reports = []
    for engine in ("leadq", "baseline"):
        out = subprocess.run([sys.executable, __file__, "--engine", engine, "--leads", str(args.leads),
                              "--rows", str(args.rows), "--data-dir", str(args.data_dir)],
                             capture_output=True, text=True, env=env, check=True)
        reports.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'engine':10} {'rows':>9} {'seconds':>8} {'rows/s':>9} {'peak RSS MB':>12}  detail")
    for r in reports:
        print(f"{r['engine']:10} {r['rows']:>9,} {r['seconds']:>8.1f} {r['rows'] / r['seconds']:>9,.0f} "
              f"{r['peak_rss_mb']:>12,.0f}  {r['detail']}")
    print(f"leadq / baseline time: {reports[0]['seconds'] / reports[1]['seconds']:.2f}x "
          "(leadq fits 2 candidates x 2 targets, calibrates and computes importances)")


if __name__ == "__main__":
    main()
