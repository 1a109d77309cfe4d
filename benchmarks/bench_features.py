"""Benchmark: feature building from Parquet, leadq's DuckDB engine against vectorised pandas.

    python benchmarks/bench_features.py [--leads 1000000] [--events 10000000] [--data-dir /tmp/leadq-bench]

The parent makes sure a synthetic data set of `--leads` leads exists as Parquet under
`--data-dir` (generated once, by `leadq.steps.generate.generate_to_dir`, or by a quick numpy
generator with `--source numpy`), keeps a seeded uniform sample of `--events` of its events
(default: 10^7 events over 10^6 leads, the issue's size; `--events 0` keeps all of them), then
runs each engine in its own subprocess

    python bench_features.py --engine duckdb|pandas --dataset DIR

which reads the Parquet tables, builds the feature vector of every open lead as of the end of the
history and prints one JSON line: wall seconds, peak RSS (`VmHWM`, see `vm_hwm_kb`) and a
per-stage breakdown. The parent prints events, leads, seconds, events/s and peak RSS per engine
and the speed ratio. With `--compare` each engine also writes its features (after measuring)
and the parent checks they agree.

Stages. DuckDB: load/validation (its slowest statements are timed through a thin wrapper passed
to `load_data(con=...)`), the events as sorted arrays with their marks (`event_arrays`), and the
feature vectors of the open leads. pandas: read, validate, prepare (sort, sessions, returns,
journey), features. Each engine also reports its process CPU seconds, and the part of them spent
in the kernel (`sys s`, mostly faulting in fresh memory): on a shared machine wall time varies
with the neighbours' load, CPU time much less.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DEFAULT_DATA_DIR = Path("/tmp/leadq-bench")
TABLES = ("leads", "events", "outcomes")


# --- data ----------------------------------------------------------------------------------------


def dataset_dir(data_dir: Path, n_leads: int, seed: int, source: str, n_events: int | None = None) -> Path:
    name = f"{source}_leads_{n_leads}_seed_{seed}"
    return Path(data_dir) / (name if n_events is None else f"{name}_events_{n_events}")


def numpy_generate(n_leads: int, seed: int, end: str = "2026-06-30") -> dict[str, pd.DataFrame]:
    """A quick stand-in for leadq.data.synth with the contract's tables (~14 events per lead)."""
    rng = np.random.default_rng(seed)
    end_us = pd.Timestamp(end, tz="UTC").value // 1000
    day = 86_400_000_000
    created = np.sort(end_us - (rng.random(n_leads) * 365 * day).astype(np.int64))
    ids = np.char.add("L", np.char.zfill(np.arange(1, n_leads + 1).astype(str), 7))
    leads = pd.DataFrame({
        "lead_id": ids,
        "created_at": pd.to_datetime(created, unit="us", utc=True),
        "source": rng.choice(["web", "partner", "event", "ads"], n_leads),
        "country": rng.choice(["DE", "FR", "US", "GB", "NL"], n_leads),
        "company_size": rng.lognormal(4, 1.5, n_leads).round(),
    })
    per_lead = rng.poisson(14, n_leads)
    lead = np.repeat(np.arange(n_leads), per_lead)
    n = len(lead)
    span = end_us - created[lead]
    ts = created[lead] + (rng.random(n) ** 2 * span).astype(np.int64)
    types = np.array(["page_view", "pricing_view", "content_download", "form_submit", "webinar_register",
                      "webinar_attend", "email_open", "email_click", "demo_request", "feedback",
                      "unsubscribe", "careers_view", "custom"])
    probs = np.array([40, 7, 8, 2, 5, 4, 12, 5, 1, 0.5, 0.5, 8, 1.0])
    etype = types[rng.choice(len(types), n, p=probs / probs.sum())]
    pages = np.array(["/", "/pricing", "/blog/a", "/blog/b", "/careers", "/docs", "/demo"])
    events = pd.DataFrame({
        "lead_id": ids[lead],
        "ts": pd.to_datetime(ts, unit="us", utc=True),
        "event_type": etype,
        "duration_s": np.where(rng.random(n) < 0.3, np.nan, rng.lognormal(3.5, 1.0, n)),
        "page": pages[rng.integers(0, len(pages), n)],
        "content_id": np.where(np.isin(etype, ["content_download", "webinar_attend"]),
                               np.char.add("c-", rng.integers(0, 50, n).astype(str)), None),
        "channel": rng.choice(["organic", "email", "social"], n),
    }).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    stage_rows = []
    reach = rng.random(n_leads)
    t = created
    for stage, share in (("mql", 0.3), ("sql", 0.12), ("customer", 0.04)):
        t = t + (rng.exponential(20, n_leads) * day).astype(np.int64)
        keep = (reach < share) & (t < end_us)
        stage_rows.append(pd.DataFrame({"lead_id": ids[keep], "stage": stage,
                                        "reached_at": pd.to_datetime(t[keep], unit="us", utc=True)}))
    outcomes = pd.concat(stage_rows, ignore_index=True)
    return {"leads": leads, "events": events, "outcomes": outcomes}


def ensure_dataset(data_dir: Path, n_leads: int, seed: int, source: str, n_events: int | None = None) -> Path:
    """The data set's folder, generated (once) if it is not complete yet. With `n_events`, a
    seeded uniform sample of that many of the generated events is kept (the leads and outcomes
    stay whole), e.g. exactly 10^7 events over 10^6 leads."""
    out = dataset_dir(data_dir, n_leads, seed, source, n_events)
    done = out / "_COMPLETE"
    if done.exists():
        return out
    if n_events is not None:
        full = ensure_dataset(data_dir, n_leads, seed, source)
        out.mkdir(parents=True, exist_ok=True)
        events = pd.read_parquet(full / "events.parquet")
        if n_events > len(events):
            raise SystemExit(f"--events {n_events:,}: the generated data set has only {len(events):,} events")
        keep = np.sort(np.random.default_rng(seed).choice(len(events), n_events, replace=False))
        events.iloc[keep].to_parquet(out / "events.parquet", index=False)
        del events
        for name in ("leads", "outcomes"):
            (out / f"{name}.parquet").write_bytes((full / f"{name}.parquet").read_bytes())
        done.write_text(json.dumps({"leads": n_leads, "events": n_events, "sampled_from": str(full)}))
        return out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"generating {n_leads:,} leads ({source}, seed {seed}) into {out} ...", flush=True)
    if source == "leadq":
        from leadq.steps.generate import generate_to_dir

        counts = generate_to_dir(out, n_leads, seed)
    else:
        tables = numpy_generate(n_leads, seed)
        for name, frame in tables.items():
            frame.to_parquet(out / f"{name}.parquet", index=False)
        counts = {k: len(v) for k, v in tables.items()}
    done.write_text(json.dumps(counts))
    print(f"generated {counts} in {time.perf_counter() - t0:.1f} s", flush=True)
    return out


# --- engines (each in its own process) -----------------------------------------------------------


def vm_hwm_kb(pid: int | None = None, descendants: bool = False) -> int:
    """Peak resident set (VmHWM, KB) of a process (default: this one), with `descendants` also
    of its child processes. VmHWM starts afresh at exec, unlike `ru_maxrss`, which keeps the
    peak of the parent that forked us (here: the data generator). `ru_maxrss` off Linux."""
    pid = os.getpid() if pid is None else pid
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split() if descendants else []
    except OSError:
        return total or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return total + sum(vm_hwm_kb(int(c), descendants=True) for c in children)


class TimedConnection:
    """Wraps a DuckDB connection and records the wall time of every statement it runs."""

    def __init__(self, con):
        self._con = con
        self.log: list[tuple[str, float]] = []

    def execute(self, query, *args, **kwargs):
        t0 = time.perf_counter()
        result = self._con.execute(query, *args, **kwargs)
        self.log.append((" ".join(str(query).split()), time.perf_counter() - t0))
        return result

    def executemany(self, query, *args, **kwargs):
        t0 = time.perf_counter()
        result = self._con.executemany(query, *args, **kwargs)
        self.log.append((" ".join(str(query).split()), time.perf_counter() - t0))
        return result

    def __getattr__(self, name):
        return getattr(self._con, name)


def system_seconds() -> float:
    """CPU seconds this process (all its threads) has spent in the kernel: mostly page faults
    on fresh memory here."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def run_duckdb(dataset: Path, threads: int | None, memory_limit: str | None, out: Path | None) -> dict:
    from leadq.features.arrays import event_arrays
    from leadq.features.examples import infer_attribute_spec
    from leadq.features.spec import FeatureSpec
    from leadq.features.engine import build_features
    from leadq.data.load import connect, load_data

    sys0 = system_seconds()
    marks = [(time.perf_counter(), time.process_time())]
    con = TimedConnection(connect(memory_limit=memory_limit, threads=threads))
    data = load_data(dataset, con=con)
    marks.append((time.perf_counter(), time.process_time()))
    load_log = list(con.log)
    spec = infer_attribute_spec(data, FeatureSpec())
    as_of = data.history_end()
    n_events, n_leads = data.count("events"), data.count("leads")
    marks.append((time.perf_counter(), time.process_time()))
    event_arrays(data, spec)
    marks.append((time.perf_counter(), time.process_time()))
    features = build_features(data, spec, as_of)
    marks.append((time.perf_counter(), time.process_time()))
    rss_kb = vm_hwm_kb()

    names = ["load/validation", "counts, history end", "events to sorted arrays + marks",
             "feature vectors (open leads)"]
    stages = {name: marks[i + 1][0] - marks[i][0] for i, name in enumerate(names)}
    cpu = {name: marks[i + 1][1] - marks[i][1] for i, name in enumerate(names)}
    slowest_load = sorted(load_log, key=lambda x: -x[1])[:6]
    result = {
        "engine": "duckdb", "seconds": marks[-1][0] - marks[0][0], "cpu_seconds": marks[-1][1] - marks[0][1],
        "system_seconds": system_seconds() - sys0,
        "features_seconds": marks[-1][0] - marks[2][0], "load_seconds": marks[1][0] - marks[0][0],
        "peak_rss_kb": rss_kb, "events": n_events, "leads": n_leads,
        "open_leads": len(features), "columns": features.shape[1], "as_of": as_of.isoformat(),
        "stages": stages, "stages_cpu": cpu,
        "slowest_load_statements": [[s[:160], round(t, 3)] for s, t in slowest_load],
        "threads": int(data.con.execute("SELECT current_setting('threads')").fetchall()[0][0]),
    }
    if out is not None:
        features.to_parquet(out, index=False)
    return result


def run_pandas(dataset: Path, out: Path | None) -> dict:
    sys.path.insert(0, str(HERE))
    import pandas_features as pf
    from leadq.features.spec import FeatureSpec

    stages: dict[str, float] = {}
    t0, cpu0, sys0 = time.perf_counter(), time.process_time(), system_seconds()
    leads, events, outcomes = pf.read_tables(dataset)
    t1 = time.perf_counter()
    stages["read parquet"] = t1 - t0
    leads, events, outcomes = pf.validate_tables(leads, events, outcomes)
    t2 = time.perf_counter()
    stages["validation"] = t2 - t1
    spec = pf.infer_attribute_spec(leads, FeatureSpec())
    as_of = pf.history_end(events, outcomes)
    prep = pf.PreparedEvents(leads, events, spec)
    n_events, n_leads = len(events), len(leads)
    del events
    t3 = time.perf_counter()
    stages["prepare (sort, sessions, returns, journey)"] = t3 - t2
    features = pf.features_from_prepared(prep, leads, outcomes, spec, as_of)
    t4 = time.perf_counter()
    stages["features at the cutoff"] = t4 - t3
    rss_kb = vm_hwm_kb()
    result = {
        "engine": "pandas", "seconds": t4 - t0, "cpu_seconds": time.process_time() - cpu0,
        "system_seconds": system_seconds() - sys0, "peak_rss_kb": rss_kb, "events": n_events, "leads": n_leads,
        "open_leads": len(features), "columns": features.shape[1], "as_of": as_of.isoformat(),
        "stages": stages,
    }
    if out is not None:
        features.to_parquet(out, index=False)
    return result


# --- parent --------------------------------------------------------------------------------------


def run_child(engine: str, dataset: Path, args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--engine", engine, "--dataset", str(dataset)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.memory_limit:
        cmd += ["--memory-limit", args.memory_limit]
    if args.compare:
        cmd += ["--out", str(dataset / f"_features_{engine}.parquet")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{engine} engine failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare_outputs(dataset: Path) -> str:
    a = pd.read_parquet(dataset / "_features_duckdb.parquet")
    b = pd.read_parquet(dataset / "_features_pandas.parquet")
    if list(a.columns) != list(b.columns) or list(a["lead_id"]) != list(b["lead_id"]):
        return "DIFFERENT columns or open leads"
    bad = []
    for name in a.columns[1:]:
        if pd.api.types.is_numeric_dtype(a[name].dtype):
            x, y = a[name].to_numpy(dtype=float), b[name].to_numpy(dtype=float)
            ok = np.isclose(x, y, rtol=1e-9, atol=1e-9) | (np.isnan(x) & np.isnan(y))
        else:
            ok = (a[name].astype(object).fillna("\0") == b[name].astype(object).fillna("\0")).to_numpy()
        if not ok.all():
            bad.append(f"{name} ({(~ok).sum()} rows)")
    return "identical (1e-9)" if not bad else "DIFFERENT: " + ", ".join(bad)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--leads", type=int, default=1_000_000, help="leads in the data set")
    p.add_argument("--events", type=int, default=10_000_000,
                   help="events kept: a seeded uniform sample of the generated ones (0: keep them all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where data sets are generated once")
    p.add_argument("--source", choices=["leadq", "numpy"], default="leadq",
                   help="generator: leadq.steps.generate (default) or a quick numpy stand-in")
    p.add_argument("--engines", default="duckdb,pandas", help="comma-separated engines to run")
    p.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all cores)")
    p.add_argument("--memory-limit", default=None, help="DuckDB memory_limit, e.g. 2GB")
    p.add_argument("--compare", action="store_true", help="also check that both engines' features agree")
    p.add_argument("--json", action="store_true", help="print the raw child reports too")
    # child mode
    p.add_argument("--engine", choices=["duckdb", "pandas"], help=argparse.SUPPRESS)
    p.add_argument("--dataset", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.engine:
        if args.engine == "duckdb":
            report = run_duckdb(args.dataset, args.threads, args.memory_limit, args.out)
        else:
            report = run_pandas(args.dataset, args.out)
        print(json.dumps(report))
        return

    dataset = ensure_dataset(args.data_dir, args.leads, args.seed, args.source, args.events or None)
    reports = {}
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        print(f"running {engine} ...", flush=True)
        reports[engine] = run_child(engine, dataset, args)

    print(f"\ndata set: {dataset}  ({os.cpu_count()} cores)")
    print(f"{'engine':<8} {'events':>12} {'leads':>10} {'open':>9} {'seconds':>8} {'events/s':>12} "
          f"{'CPU s':>7} {'sys s':>6} {'peak RSS MB':>12}")
    for engine, r in reports.items():
        print(f"{engine:<8} {r['events']:>12,} {r['leads']:>10,} {r['open_leads']:>9,} {r['seconds']:>8.2f} "
              f"{r['events'] / r['seconds']:>12,.0f} {r['cpu_seconds']:>7.1f} {r['system_seconds']:>6.1f} "
              f"{r['peak_rss_kb'] / 1024:>12,.0f}")
    if "duckdb" in reports and "pandas" in reports:
        ratio = reports["pandas"]["seconds"] / reports["duckdb"]["seconds"]
        print(f"speed ratio duckdb/pandas (events/s): {ratio:.2f}x")
        if reports["duckdb"]["as_of"] != reports["pandas"]["as_of"]:
            print(f"warning: cutoffs differ: {reports['duckdb']['as_of']} vs {reports['pandas']['as_of']}")
    for engine, r in reports.items():
        print(f"\n{engine} stages (s):")
        for stage, sec in r["stages"].items():
            cpu = r.get("stages_cpu", {}).get(stage)
            print(f"  {stage:<45} {sec:8.2f}" + ("" if cpu is None else f"   (CPU {cpu:.2f})"))
        for sql, sec in r.get("slowest_load_statements", []):
            print(f"    load stmt {sec:7.2f}  {sql[:110]}")
    if args.compare and len(reports) == 2:
        print(f"\nfeatures agree: {compare_outputs(dataset)}")
    if args.json:
        print(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
