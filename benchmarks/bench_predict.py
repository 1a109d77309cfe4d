"""Benchmark: batch scoring end to end, the scoring part alone, and model-only throughput (a
script, not a test).

1. End to end: `leadq.scoring.predict.predict_to_file` on N generated leads (1,000,000 ≈ 1.4 x 10^7
   events) read from Parquet, reasons included, in its own process: seconds, leads/s, peak RSS.
2. Scoring only, own process: everything `leadq predict` does after feature building (both
   targets' probabilities, reasons, routing, drift report, writing Parquet) on a feature table,
   in the command's chunks: seconds, leads/s, peak RSS.
3. Model only, same process, repeats interleaved (median): per target the bare scikit-learn
   pipeline's `predict_proba`, leadq's scoring path (`predict_targets`, what the pyfunc and
   `leadq predict` run) with and without reasons, and the registered pyfunc's `predict`. The
   pyfunc overhead is its time over the bare pipelines' summed time.

A small model is trained once on 20,000 generated leads into a scratch MLflow store. The
feature table for parts 2 and 3 is built once and cached beside the store (`--features` names
another one).

    python benchmarks/bench_predict.py [--leads 1000000] [--parts scoring,model_only]
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
    from leadq.steps.predict import predict_to_file

    started = time.perf_counter()
    summary = predict_to_file(args.data_dir, args.work / "scores.parquet", "lead-quality@champion",
                              as_of="2026-06-01", tracking_uri=args.tracking_uri)
    seconds = time.perf_counter() - started
    return {"leads": summary.n_leads, "seconds": seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def feature_table(args):
    """The lead-level feature table of the data as of 2026-06-01, built once and cached."""
    import pandas as pd

    from leadq.features.engine import build_features
    from leadq.data.load import load_data
    from leadq.tracking.pyfunc import load_model_artifacts

    path = args.features or args.work / f"features_{args.leads}.parquet"
    if not Path(path).exists():
        spec = load_model_artifacts("models:/lead-quality@champion", args.tracking_uri).spec
        build_features(load_data(args.data_dir), spec, "2026-06-01").to_parquet(path, index=False)
    return pd.read_parquet(path)


def scoring(args) -> dict:
    """Probabilities, reasons, routing, drift report and the Parquet file for every row of the
    feature table, in `leadq predict`'s chunks (no feature building)."""
    import pandas as pd

    from leadq.core.files import write_table
    from leadq.scoring.predict import DEFAULT_CHUNK_ROWS, finish_scores, score_chunk
    from leadq.scoring.routing import funnel_order
    from leadq.tracking.model_ref import load_artifacts, resolve_model_ref

    model = resolve_model_ref("lead-quality@champion", args.tracking_uri)
    artifacts = load_artifacts(model)
    pipelines = artifacts.load_pipelines()
    features = feature_table(args)
    funnel = funnel_order(artifacts.targets)
    reference = [c for c in artifacts.reference.get("features", {}) if c in features]
    started = time.perf_counter()
    chunks = []
    for start in range(0, len(features), DEFAULT_CHUNK_ROWS):
        part = features.iloc[start:start + DEFAULT_CHUNK_ROWS]
        keys = pd.DataFrame({"lead_id": part["lead_id"].to_numpy(), "current_stage": "lead"})
        chunks.append(score_chunk(pipelines, artifacts.spec, funnel, keys, part))
    scored_at = pd.Timestamp.now(tz="UTC").isoformat()
    as_of = pd.Timestamp("2026-06-01", tz="UTC")
    scored, _, _ = finish_scores(pd.concat(chunks, ignore_index=True), funnel, artifacts,
                                 model, as_of,
                                 scored_at, features[reference], [])
    write_table(scored, args.work / "scores_only.parquet")
    seconds = time.perf_counter() - started
    return {"leads": len(scored), "seconds": seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _median_seconds(runs: dict, repeats: int) -> dict:
    """Median seconds of each named callable, its runs interleaved with the others'."""
    import statistics

    timings = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in timings.items()}


def model_only(args) -> dict:
    """Rows/s per target: bare scikit-learn, leadq's path with and without reasons, pyfunc."""
    import mlflow

    from leadq.tracking.pyfunc import load_model_artifacts, prepare_features, predict_targets
    from leadq.models.reasons import score_and_explain

    mlflow.set_tracking_uri(args.tracking_uri)
    mlflow.set_registry_uri(args.tracking_uri)
    artifacts = load_model_artifacts("models:/lead-quality@champion", args.tracking_uri)
    columns, categorical = artifacts.spec.feature_columns(), artifacts.spec.categorical_columns()
    X = feature_table(args).head(args.model_rows)[columns]
    prepared = prepare_features(X, columns, categorical)
    pyfunc = mlflow.pyfunc.load_model("models:/lead-quality@champion")
    pipelines = artifacts.load_pipelines()
    runs = {"pyfunc": lambda: pyfunc.predict(X),
            "leadq": lambda: predict_targets(pipelines, X, columns, categorical)}
    for target, model in pipelines.items():
        runs[f"sklearn_{target}"] = lambda m=model: m.predict_proba(prepared)
        runs[f"leadq_{target}"] = lambda m=model: score_and_explain(m, prepared, columns)
        runs[f"leadq_{target}_reasons"] = lambda m=model: score_and_explain(m, prepared, columns, True)
    for run in runs.values():  # warm-up: caches, lazy imports
        run()
    seconds = _median_seconds(runs, args.repeats)
    seconds["sklearn"] = sum(seconds[f"sklearn_{t}"] for t in pipelines)
    kinds = {t: type(m.calibrated_classifiers_[0].estimator.estimator[-1]).__name__
             for t, m in pipelines.items()}
    return {"rows": len(X), "kinds": kinds, "repeats": args.repeats, **seconds}


def _report_model_only(model: dict) -> None:
    rows = model["rows"]
    print(f"model only on {rows:,} rows (median of {model['repeats']} interleaved repeats):")
    for target, kind in model["kinds"].items():
        plain, reasons = model[f"leadq_{target}"], model[f"leadq_{target}_reasons"]
        print(f"  {target} ({kind}): bare scikit-learn {rows / model[f'sklearn_{target}']:,.0f} rows/s, "
              f"leadq path {rows / plain:,.0f} rows/s, with reasons {rows / reasons:,.0f} rows/s "
              f"(reasons cost {100 * (reasons / plain - 1):.0f} % of the prediction)")
    print(f"  pyfunc {rows / model['pyfunc']:,.0f} rows/s (all targets), bare scikit-learn "
          f"{rows / model['sklearn']:,.0f} rows/s: pyfunc overhead "
          f"{100 * (model['pyfunc'] / model['sklearn'] - 1):+.1f} %; over leadq's own path "
          f"{100 * (model['pyfunc'] / model['leadq'] - 1):+.1f} %")


PARTS = {"end_to_end": end_to_end, "scoring": scoring, "model_only": model_only}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--model-rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("/tmp/leadq-bench/predict"))
    parser.add_argument("--features", type=Path, default=None,
                        help="a prebuilt feature table (as of 2026-06-01) for scoring and model_only")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated, of " + ", ".join(PARTS))
    parser.add_argument("--part", choices=list(PARTS), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data_dir = Path(f"/tmp/leadq-bench/leadq_leads_{args.leads}_seed_0")
    args.tracking_uri = f"sqlite:///{args.work / 'mlflow.db'}"
    if args.part:
        print(json.dumps(PARTS[args.part](args)))
        return
    from leadq.config import parse_config
    from leadq.steps.generate import generate_to_dir
    from leadq.steps.train import train_from_files

    if not (args.data_dir / "events.parquet").exists():
        generate_to_dir(args.data_dir, n_leads=args.leads, seed=0)
    if not (args.work / "mlflow.db").exists():
        generate_to_dir(args.work / "train", n_leads=20_000, seed=1)
        train_from_files(None, args.work / "train", args.tracking_uri, config=parse_config({}))
    reports = {}
    for part in args.parts.split(","):
        command = [sys.executable, __file__, "--part", part, "--leads", str(args.leads), "--work",
                   str(args.work), "--model-rows", str(args.model_rows), "--repeats", str(args.repeats)]
        command += ["--features", str(args.features)] if args.features else []
        out = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), check=True)
        reports[part] = json.loads(out.stdout.strip().splitlines()[-1])
    if "end_to_end" in reports:
        import pyarrow.parquet as pq

        e2e = reports["end_to_end"]
        events = pq.ParquetFile(args.data_dir / "events.parquet").metadata.num_rows
        print(f"end to end: {e2e['leads']:,} open leads, {events:,} events in {e2e['seconds']:.1f} s = "
              f"{e2e['leads'] / e2e['seconds']:,.0f} leads/s, {events / e2e['seconds']:,.0f} events/s, "
              f"peak RSS {e2e['peak_rss_mb']:,.0f} MB (reasons included)")
    if "scoring" in reports:
        done = reports["scoring"]
        print(f"scoring only (probabilities, reasons, routing, drift, Parquet): {done['leads']:,} leads "
              f"in {done['seconds']:.1f} s = {done['leads'] / done['seconds']:,.0f} leads/s, "
              f"peak RSS {done['peak_rss_mb']:,.0f} MB")
    if "model_only" in reports:
        _report_model_only(reports["model_only"])


if __name__ == "__main__":
    main()
