"""Benchmark: feature building from Parquet, the Spark engine (local mode) against in-process DuckDB.

    python benchmarks/bench_spark.py [--leads 1000000] [--data-dir /tmp/leadq-bench] [--compare]
    python benchmarks/bench_spark.py --huge          # 10^8 events (10,000,000 leads): long, big

The parent makes sure a synthetic data set of `--leads` leads (about 14 events each, so the
default is ~10^7 events) exists as Parquet under `--data-dir` (generated once by
`leadq.steps.generate.generate_to_dir`, in the same layout `bench_features.py` uses, so the two share
the cache), then runs each engine in its own subprocess

    python bench_spark.py --engine spark|duckdb --dataset DIR

which reads and validates the tables, builds the feature vector of every open lead as of the end
of the history and prints one JSON line. Peak RSS (`VmHWM`): for DuckDB the process's; for
Spark the Python driver's plus the JVM's (read before it stops).
With `--compare` each engine also writes its features and the parent checks they agree.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench_features import ensure_dataset, vm_hwm_kb  # this folder is on sys.path when run as a script

DEFAULT_DATA_DIR = Path("/tmp/leadq-bench")
HUGE_LEADS = 10_000_000


# --- engines (each in its own process) -----------------------------------------------------------


def run_spark(dataset: Path, master: str, driver_memory: str, partitions: int | None, out: Path | None) -> dict:
    from leadq.features.examples import infer_attribute_spec
    from leadq.features.spec import FeatureSpec
    from leadq.spark.features import build_features_spark
    from leadq.spark.load import load_spark_tables
    from leadq.spark.session import spark_session

    t_start = time.perf_counter()
    spark = spark_session(master=master, driver_memory=driver_memory, shuffle_partitions=partitions,
                          conf={"spark.ui.showConsoleProgress": "false"})
    spark.sparkContext.setLogLevel("ERROR")
    t_session = time.perf_counter()
    data = load_spark_tables(spark, dataset)
    n_events, n_leads = data.count("events"), data.count("leads")  # materialises the cached tables
    spec = infer_attribute_spec(data, FeatureSpec())
    as_of = data.history_end()
    t_loaded = time.perf_counter()
    features = build_features_spark(spark, spec, as_of)
    t_end = time.perf_counter()
    jvm = spark.sparkContext._gateway.proc.pid  # the JVM (spark-submit execs java in place)
    jvm_kb = vm_hwm_kb(jvm, descendants=True)
    py_kb = vm_hwm_kb()
    result = {
        "engine": "spark", "master": master, "seconds": t_end - t_session,
        "session_seconds": t_session - t_start, "load_seconds": t_loaded - t_session,
        "features_seconds": t_end - t_loaded, "peak_rss_kb": py_kb + jvm_kb, "python_rss_kb": py_kb,
        "jvm_rss_kb": jvm_kb, "events": n_events, "leads": n_leads, "open_leads": len(features),
        "columns": features.shape[1], "as_of": as_of.isoformat(),
        "shuffle_partitions": spark.conf.get("spark.sql.shuffle.partitions"), "driver_memory": driver_memory,
    }
    spark.stop()
    if out is not None:
        features.to_parquet(out, index=False)
    return result


def run_duckdb(dataset: Path, out: Path | None) -> dict:
    from leadq.features.examples import infer_attribute_spec
    from leadq.features.spec import FeatureSpec
    from leadq.features.engine import build_features
    from leadq.data.load import load_data

    t_start = time.perf_counter()
    data = load_data(dataset)
    n_events, n_leads = data.count("events"), data.count("leads")
    spec = infer_attribute_spec(data, FeatureSpec())
    as_of = data.history_end()
    t_loaded = time.perf_counter()
    features = build_features(data, spec, as_of)
    t_end = time.perf_counter()
    result = {
        "engine": "duckdb", "seconds": t_end - t_start, "load_seconds": t_loaded - t_start,
        "features_seconds": t_end - t_loaded, "peak_rss_kb": vm_hwm_kb(),
        "events": n_events, "leads": n_leads, "open_leads": len(features), "columns": features.shape[1],
        "as_of": as_of.isoformat(),
        "threads": int(data.con.execute("SELECT current_setting('threads')").fetchall()[0][0]),
    }
    if out is not None:
        features.to_parquet(out, index=False)
    return result


# --- parent --------------------------------------------------------------------------------------


def run_child(engine: str, dataset: Path, args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--engine", engine, "--dataset", str(dataset),
           "--master", args.master, "--driver-memory", args.driver_memory]
    if args.partitions:
        cmd += ["--partitions", str(args.partitions)]
    if args.compare:
        cmd += ["--out", str(dataset / f"_features_{engine}_bench_spark.parquet")]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{engine} engine failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["process_seconds"] = time.perf_counter() - t0
    return report


def compare_outputs(dataset: Path) -> str:
    a = pd.read_parquet(dataset / "_features_duckdb_bench_spark.parquet")
    b = pd.read_parquet(dataset / "_features_spark_bench_spark.parquet")
    if list(a.columns) != list(b.columns):
        return "DIFFERENT columns"
    if list(a["lead_id"]) != list(b["lead_id"]):
        return "DIFFERENT open leads or order"
    bad = []
    for name in a.columns[1:]:
        if pd.api.types.is_numeric_dtype(a[name].dtype):
            x, y = a[name].to_numpy(dtype=float), b[name].to_numpy(dtype=float)
            ok = np.isclose(x, y, rtol=1e-9, atol=0) | (np.isnan(x) & np.isnan(y))
        else:
            ok = (a[name].astype(object).fillna("\0") == b[name].astype(object).fillna("\0")).to_numpy()
        if not ok.all():
            bad.append(f"{name} ({(~ok).sum()} rows)")
    return "identical (rtol 1e-9)" if not bad else "DIFFERENT: " + ", ".join(bad)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--leads", type=int, default=1_000_000, help="leads in the data set (~14 events each)")
    p.add_argument("--huge", action="store_true", help=f"10^8 events: {HUGE_LEADS:,} leads (long; needs disk and RAM)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where data sets are generated once")
    p.add_argument("--engines", default="duckdb,spark", help="comma-separated engines to run")
    p.add_argument("--master", default="local[2]", help="Spark master")
    p.add_argument("--driver-memory", default="6g", help="Spark driver memory (local mode: all of Spark)")
    p.add_argument("--partitions", type=int, default=None, help="Spark shuffle partitions (default 4 per core)")
    p.add_argument("--compare", action="store_true", help="also check that both engines' features agree")
    p.add_argument("--json", action="store_true", help="print the raw child reports too")
    p.add_argument("--engine", choices=["duckdb", "spark"], help=argparse.SUPPRESS)
    p.add_argument("--dataset", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.engine:
        if args.engine == "spark":
            report = run_spark(args.dataset, args.master, args.driver_memory, args.partitions, args.out)
        else:
            report = run_duckdb(args.dataset, args.out)
        print(json.dumps(report))
        return

    n_leads = HUGE_LEADS if args.huge else args.leads
    dataset = ensure_dataset(args.data_dir, n_leads, args.seed, "leadq")
    reports = {}
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        print(f"running {engine} ...", flush=True)
        reports[engine] = run_child(engine, dataset, args)

    print(f"\ndata set: {dataset}  ({os.cpu_count()} cores; Spark master {args.master}, "
          f"driver memory {args.driver_memory})")
    print(f"{'engine':<7} {'events':>12} {'leads':>10} {'open':>9} {'load s':>8} {'feat s':>8} "
          f"{'total s':>8} {'events/s':>11} {'peak RSS MB':>12}")
    for engine, r in reports.items():
        print(f"{engine:<7} {r['events']:>12,} {r['leads']:>10,} {r['open_leads']:>9,} {r['load_seconds']:>8.1f} "
              f"{r['features_seconds']:>8.1f} {r['seconds']:>8.1f} {r['events'] / r['seconds']:>11,.0f} "
              f"{r['peak_rss_kb'] / 1024:>12,.0f}")
    if "spark" in reports:
        r = reports["spark"]
        print(f"spark: session start {r['session_seconds']:.1f} s (not in total); RSS python "
              f"{r['python_rss_kb'] / 1024:,.0f} MB + JVM {r['jvm_rss_kb'] / 1024:,.0f} MB; "
              f"{r['shuffle_partitions']} shuffle partitions")
    if "duckdb" in reports and "spark" in reports:
        ratio = reports["spark"]["seconds"] / reports["duckdb"]["seconds"]
        print(f"duckdb is {ratio:.2f}x the events/s of spark ({args.master})")
    if args.compare and len(reports) == 2:
        print(f"features agree: {compare_outputs(dataset)}")
    if args.json:
        print(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
