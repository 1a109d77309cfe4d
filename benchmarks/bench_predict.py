"""Benchmark: batch scoring end to end and model-only throughput (a script, not a test).

1. End to end: `leadq.predict.predict_to_file` on N generated leads (1,000,000 ≈ 1.4 x 10^7
   events) read from Parquet, reasons included, in its own process: seconds, leads/s, peak RSS.
2. Model only, same process: the registered pyfunc's predict against the bare scikit-learn
   pipelines' predict_proba on the same feature rows (the pyfunc overhead), rows/s each.

A small model is trained once on 20,000 generated leads into a scratch MLflow store.

    python benchmarks/bench_predict.py [--leads 1000000]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def end_to_end(args) -> dict:
    from leadq.predict import predict_to_file

    started = time.perf_counter()
    summary = predict_to_file(args.data_dir, args.work / "scores.parquet", "lead-quality@champion",
                              as_of="2026-06-01", tracking_uri=args.tracking_uri)
    seconds = time.perf_counter() - started
    return {"leads": summary.n_leads, "seconds": seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def model_only(args) -> dict:
    import mlflow

    from leadq.features import build_features
    from leadq.load import load_data
    from leadq.pyfunc_model import load_model_artifacts

    mlflow.set_tracking_uri(args.tracking_uri)
    mlflow.set_registry_uri(args.tracking_uri)
    artifacts = load_model_artifacts("models:/lead-quality@champion", args.tracking_uri)
    features = build_features(load_data(args.data_dir), artifacts.spec, "2026-06-01").head(args.model_rows)
    columns = artifacts.spec.feature_columns()
    X = features[columns]
    pyfunc = mlflow.pyfunc.load_model("models:/lead-quality@champion")
    pipelines = artifacts.load_pipelines()
    timings = {"pyfunc": [], "sklearn": []}
    for _ in range(3):
        started = time.perf_counter()
        pyfunc.predict(X)
        timings["pyfunc"].append(time.perf_counter() - started)
        started = time.perf_counter()
        for model in pipelines.values():
            model.predict_proba(X)
        timings["sklearn"].append(time.perf_counter() - started)
    best = {k: min(v) for k, v in timings.items()}
    return {"rows": len(X), **best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--model-rows", type=int, default=200_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/leadq-bench/predict"))
    parser.add_argument("--part", choices=["end_to_end", "model_only"], default=None)
    args = parser.parse_args()
    args.data_dir = Path(f"/tmp/leadq-bench/leadq_leads_{args.leads}_seed_0")
    args.tracking_uri = f"sqlite:///{args.work / 'mlflow.db'}"
    if args.part:
        print(json.dumps(end_to_end(args) if args.part == "end_to_end" else model_only(args)))
        return
    from leadq.config import parse_config
    from leadq.generation import generate_to_dir
    from leadq.pipeline_train import train_from_files

    if not (args.data_dir / "events.parquet").exists():
        generate_to_dir(args.data_dir, n_leads=args.leads, seed=0)
    if not (args.work / "mlflow.db").exists():
        generate_to_dir(args.work / "train", n_leads=20_000, seed=1)
        train_from_files(None, args.work / "train", args.tracking_uri, config=parse_config({}))
    reports = {}
    for part in ("end_to_end", "model_only"):
        out = subprocess.run([sys.executable, __file__, "--part", part, "--leads", str(args.leads),
                              "--work", str(args.work), "--model-rows", str(args.model_rows)],
                             capture_output=True, text=True, env=dict(os.environ), check=True)
        reports[part] = json.loads(out.stdout.strip().splitlines()[-1])
    e2e, model = reports["end_to_end"], reports["model_only"]
    import pyarrow.parquet as pq

    events = pq.ParquetFile(args.data_dir / "events.parquet").metadata.num_rows
    print(f"end to end: {e2e['leads']:,} open leads, {events:,} events in {e2e['seconds']:.1f} s = "
          f"{e2e['leads'] / e2e['seconds']:,.0f} leads/s, {events / e2e['seconds']:,.0f} events/s, "
          f"peak RSS {e2e['peak_rss_mb']:,.0f} MB (reasons included)")
    print(f"model only on {model['rows']:,} rows: pyfunc {model['rows'] / model['pyfunc']:,.0f} rows/s, "
          f"bare scikit-learn {model['rows'] / model['sklearn']:,.0f} rows/s, "
          f"pyfunc overhead {100 * (model['pyfunc'] / model['sklearn'] - 1):+.1f} %")


if __name__ == "__main__":
    main()
