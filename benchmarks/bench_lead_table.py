"""Benchmark: scoring a CRM-scale lead table (one row per lead, ~40 columns, CSV), leadq against
plain pandas + scikit-learn (a script, not a test).

    python benchmarks/bench_lead_table.py [--rows 1000000] [--work /tmp/leadq-bench/lead_table]

The parent writes, once, a generated export of `--rows` rows and 40 columns (an id, a 0/1
label, 14 numeric columns with gaps, 21 categorical columns of 2 to 300 levels with the
placeholder `Select`, a free-text column, one column empty everywhere, one constant) and
trains a leadq model on its first `--train-rows` rows (a `lead_table` config, 3-fold CV,
gradient boosting only) into a scratch MLflow store. Then, each in its own subprocess:

- leadq: `leadq.steps.predict.predict_to_file` on the whole export (read, type,
  score, reasons, drift report, write the CSV), what `leadq predict --data FILE` runs;
- baseline: `pandas.read_csv` (placeholders as NaN) and a plain scikit-learn pipeline
  (OrdinalEncoder + HistGradientBoosting, fitted on the same training rows before the clock
  starts) scoring every row, written as CSV: no reasons, no drift report, no validation.

Each prints wall seconds, rows/s, CPU seconds (all threads; steadier than wall time on a
shared machine) and peak RSS (VmHWM of its own process); the parent prints both and the ratio.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

N_NUMERIC = 14
N_CATEGORICAL = 21
PLACEHOLDER = "Select"
ID, LABEL = "Lead ID", "Converted"


def vm_hwm_mb() -> float:
    """Peak resident set of this process in MB (VmHWM: this process's own, from exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User plus system CPU seconds of this process so far (all its threads)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def write_export(path: Path, rows: int, seed: int = 0) -> None:
    """The generated CRM export, written as CSV in chunks (columns with spaces, as CRMs name them)."""
    rng = np.random.default_rng(seed)
    levels = [int(v) for v in np.geomspace(2, 300, N_CATEGORICAL).round()]
    weights = rng.normal(0, 0.6, N_NUMERIC)
    effects = [rng.normal(0, 0.8, n) for n in levels]
    chunk = 200_000
    with open(path, "w", encoding="utf-8") as handle:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            numbers = rng.lognormal(1.0, 1.0, (n, N_NUMERIC))
            codes = [rng.integers(0, k, n) for k in levels]
            logit = -2.0 + np.log1p(numbers) @ weights * 0.5 + sum(e[c] for e, c in zip(effects, codes)) * 0.3
            label = rng.random(n) < 1 / (1 + np.exp(-logit))
            frame = {ID: np.char.add("L", (np.arange(start, start + n) + 10_000_000).astype(str)),
                     LABEL: np.where(label, "Yes", "No")}
            for j in range(N_NUMERIC):
                values = np.round(numbers[:, j], 2).astype(object)
                values[rng.random(n) < 0.08] = ""
                frame[f"Metric {j + 1} (avg)"] = values
            for j, c in enumerate(codes):
                values = np.char.add(f"Level {j + 1}-", c.astype(str)).astype(object)
                values[rng.random(n) < 0.1] = PLACEHOLDER
                frame[f"Field {j + 1}"] = values
            frame["Notes"] = np.char.add("note ", rng.integers(0, 50_000, n).astype(str))
            frame["Lead Status"] = ""
            frame["Owner Region"] = "EMEA"
            pd.DataFrame(frame).to_csv(handle, index=False, header=start == 0)


def config_dict(path: Path) -> dict:
    """The pipeline config of the benchmark's lead-table model."""
    return {
        "lead_table": {"path": str(path), "id_column": ID, "label_column": LABEL, "cv_folds": 3,
                       "exclude_columns": ["Notes"], "missing_values": [PLACEHOLDER, ""]},
        "targets": ["converted"],
        "candidates": {"logistic": {"enabled": False},
                       "hist_gradient_boosting": {"max_iter": 100, "monotone": False},
                       "importance_rows": 300},
        "audit": {"enabled": False},
        "registry": {"model_name": "bench-lead-table", "promotion_metric": "test_log_loss_converted"},
        "experiment_name": "bench-lead-table",
    }


def run_leadq(args) -> dict:
    from leadq.steps.predict import predict_to_file

    started, cpu = time.perf_counter(), cpu_seconds()
    summary = predict_to_file(args.export, args.work / "scores_leadq.csv", "bench-lead-table@champion",
                              tracking_uri=args.tracking_uri)
    seconds = time.perf_counter() - started
    return {"rows": summary.n_leads, "seconds": seconds, "cpu_s": cpu_seconds() - cpu, "peak_rss_mb": vm_hwm_mb()}


def plain_pipeline(columns: list[str], numeric: list[str]):
    """OrdinalEncoder on the text columns, numbers passed through, HistGradientBoosting."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    categorical = [c for c in columns if c not in numeric]
    encode = ColumnTransformer([
        ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                               encoded_missing_value=np.nan, max_categories=255), categorical),
        ("num", "passthrough", numeric)])
    model = HistGradientBoostingClassifier(max_iter=100, random_state=0,
                                           categorical_features=list(range(len(categorical))))
    return Pipeline([("encode", encode), ("model", model)])


def run_baseline(args) -> dict:
    train = pd.read_csv(args.export, nrows=args.train_rows, na_values=[PLACEHOLDER], keep_default_na=True)
    # An all-empty column would crash HistGradientBoosting's binning: leave such columns out.
    features = [c for c in train.columns if c not in (ID, LABEL, "Notes") and train[c].notna().any()]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(train[c])]
    pipeline = plain_pipeline(features, numeric).fit(train[features], (train[LABEL] == "Yes").to_numpy())
    started, cpu = time.perf_counter(), cpu_seconds()
    table = pd.read_csv(args.export, na_values=[PLACEHOLDER], keep_default_na=True)
    p = pipeline.predict_proba(table[features])[:, 1]
    pd.DataFrame({"lead_id": table[ID], "p_converted": p}).to_csv(args.work / "scores_baseline.csv", index=False)
    seconds = time.perf_counter() - started
    return {"rows": len(table), "seconds": seconds, "cpu_s": cpu_seconds() - cpu, "peak_rss_mb": vm_hwm_mb()}


PARTS = {"leadq": run_leadq, "baseline": run_baseline}


def prepare(args) -> None:
    """The export and the trained model, made once."""
    from leadq.config import parse_config
    from leadq.steps.train import train_from_files

    args.work.mkdir(parents=True, exist_ok=True)
    if not args.export.exists():
        started = time.perf_counter()
        write_export(args.export, args.rows)
        print(f"wrote {args.export} ({args.export.stat().st_size / 2**20:,.0f} MB) in "
              f"{time.perf_counter() - started:.0f} s")
    if not (args.work / "mlflow.db").exists():
        train_path = args.work / f"train_{args.train_rows}.csv"
        pd.read_csv(args.export, nrows=args.train_rows, dtype=str, keep_default_na=False).to_csv(train_path,
                                                                                                 index=False)
        train_from_files(data_dir=train_path, tracking_uri=args.tracking_uri,
                         config=parse_config(config_dict(train_path)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/leadq-bench/lead_table"))
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated, of " + ", ".join(PARTS))
    parser.add_argument("--part", choices=list(PARTS), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.export = args.work / f"export_{args.rows}.csv"
    args.tracking_uri = f"sqlite:///{args.work / 'mlflow.db'}"
    if args.part:
        print(json.dumps(PARTS[args.part](args)))
        return
    prepare(args)
    reports = {}
    for part in args.parts.split(","):
        command = [sys.executable, __file__, "--part", part, "--rows", str(args.rows), "--train-rows",
                   str(args.train_rows), "--work", str(args.work)]
        out = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ))
        if out.returncode:
            sys.exit(f"{part} failed:\n{out.stderr[-3000:]}")
        reports[part] = json.loads(out.stdout.strip().splitlines()[-1])
    columns = len(pd.read_csv(args.export, nrows=1).columns)
    for part, report in reports.items():
        print(f"{part}: {report['rows']:,} rows x {columns} columns in {report['seconds']:.1f} s = "
              f"{report['rows'] / report['seconds']:,.0f} rows/s ({report['cpu_s']:.1f} CPU s), "
              f"peak RSS {report['peak_rss_mb']:,.0f} MB")
    if {"leadq", "baseline"} <= set(reports):
        ratio = reports["leadq"]["seconds"] / reports["baseline"]["seconds"]
        memory = reports["leadq"]["peak_rss_mb"] / reports["baseline"]["peak_rss_mb"]
        print(f"leadq / baseline: {ratio:.2f}x the time, {memory:.2f}x the peak RSS "
              "(leadq also validates, writes reasons and a drift report)")


if __name__ == "__main__":
    main()
