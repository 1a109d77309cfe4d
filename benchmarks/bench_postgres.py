"""Benchmark: the nightly job against PostgreSQL, `leadq predict --data postgresql://...
--out postgresql://... --out-table lead_scores`, against the same command reading Parquet and
writing a Parquet file (a script, not a test).

N generated leads (100,000 ≈ 2.2 x 10^6 events) are written as Parquet, loaded into a throwaway
PostgreSQL cluster (the tests' `tests/postgres_server.py`: initdb in a temporary folder, a free
loopback port; as root the server runs as the `postgres` user) or into `--pg-url`, and, with
`--sources` naming it, into a DuckDB file. A small model is trained once on 5,000 other
generated leads into a scratch MLflow store. Each `leadq predict` then runs in its own process
(imports, model loading and all, as cron runs it), the sources interleaved, `--repeats` times;
the parent prints per source the median wall seconds, the child's own seconds inside the
command, peak RSS (VmHWM) and the ratio to Parquet. The PostgreSQL runs write the same night
each time, so the last check is that the table holds exactly one row per open lead.

    python benchmarks/bench_postgres.py [--leads 100000] [--repeats 3] [--sources parquet,postgres,duckdb]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2026-06-01"
SMALL_CONFIG = {"snapshots": {"leads_per_cutoff": 500},
                "candidates": {"hist_gradient_boosting": {"max_iter": 60}, "importance_rows": 300}}


def vm_hwm_kb() -> int:
    """This process's peak resident set (VmHWM, KB): it starts afresh at exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(argv: list[str]) -> None:
    """Run `leadq ARGV` in this process and print one JSON line: seconds and peak RSS."""
    from leadq.cli import app

    started = time.perf_counter()
    try:
        app(argv, standalone_mode=False)
    except SystemExit as exc:  # typer.Exit from a user error
        if exc.code:
            raise
    print(json.dumps({"seconds": time.perf_counter() - started, "peak_rss_mb": vm_hwm_kb() / 1024}))


def prepare(args) -> dict[str, str]:
    """Generate the data, train the model, load the databases; returns the source URLs."""
    import pyarrow.parquet as pq
    import yaml

    from leadq.steps.generate import generate_to_dir
    from leadq.steps.train import train_from_files

    work = args.work
    data_dir = work / f"leads_{args.leads}"
    if not (data_dir / "events.parquet").exists():
        counts = generate_to_dir(data_dir, n_leads=args.leads, seed=args.seed)
        print(f"generated {counts['leads']:,} leads, {counts['events']:,} events", flush=True)
    store = work / "mlflow.db"
    if not store.exists():
        train_dir = work / "train_5000"
        generate_to_dir(train_dir, n_leads=5000, seed=args.seed + 1)
        config = work / "config.yaml"
        config.write_text(yaml.safe_dump(SMALL_CONFIG))
        train_from_files(config, train_dir, f"sqlite:///{store}")
    tables = {t: pq.read_table(data_dir / f"{t}.parquet") for t in ("leads", "events", "outcomes")}
    sources = {"parquet": str(data_dir)}
    if "postgres" in args.sources:
        started = time.perf_counter()
        copy_tables(args.pg_url, tables)
        print(f"loaded into PostgreSQL in {time.perf_counter() - started:.1f} s", flush=True)
        sources["postgres"] = args.pg_url
    if "duckdb" in args.sources:
        import duckdb

        path = work / f"leads_{args.leads}.duckdb"
        path.unlink(missing_ok=True)
        con = duckdb.connect(str(path))
        for name, table in tables.items():
            con.register("arrow_table", table)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM arrow_table")
            con.unregister("arrow_table")
        con.close()
        sources["duckdb"] = f"duckdb:///{path}"
    return sources


def run(args, source: str, data: str, out: str) -> dict:
    argv = ["predict", "--data", data, "--out", out, "--as-of", AS_OF, "--tracking-uri",
            f"sqlite:///{args.work / 'mlflow.db'}"]
    if source != "parquet":
        argv += ["--out-table", "lead_scores"]
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(argv)], capture_output=True,
                          text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{source}: leadq predict failed:\n{done.stderr[-3000:]}")
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall_s": wall, **measured}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sources", default="parquet,postgres", help="parquet,postgres[,duckdb]")
    parser.add_argument("--pg-url", help="an existing database to load into (default: a throwaway cluster)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "leadq-bench-postgres")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    args.sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    server = None
    if "postgres" in args.sources and not args.pg_url:
        bindir = find_bindir()
        if bindir is None:
            sys.exit("no PostgreSQL server binaries (initdb, pg_ctl); install Debian's 'postgresql' or pass --pg-url")
        server = start_server(bindir)
        args.pg_url = server.url()
    try:
        sources = prepare(args)
        outs = {"parquet": str(args.work / "scores.parquet"), "postgres": args.pg_url,
                "duckdb": f"duckdb:///{args.work / 'scores.duckdb'}"}
        results: dict[str, list[dict]] = {s: [] for s in sources}
        for repeat in range(args.repeats):
            for source, data in sources.items():
                results[source].append(run(args, source, data, outs[source]))
                print(f"run {repeat + 1} {source}: {results[source][-1]['wall_s']:.1f} s", flush=True)
        report(results)
        if "postgres" in sources:
            open_leads = len(__import__("pandas").read_parquet(outs["parquet"]))
            rows = query(args.pg_url, "SELECT count(*) AS n, count(DISTINCT lead_id) AS leads FROM lead_scores")
            print(f"lead_scores after {args.repeats} runs of the same night: {int(rows['n'][0]):,} rows, "
                  f"{int(rows['leads'][0]):,} distinct leads, {open_leads:,} open leads in the Parquet output")
    finally:
        if server is not None:
            stop_server(server)


def report(results: dict[str, list[dict]]) -> None:
    base = statistics.median(r["wall_s"] for r in results["parquet"])
    print(f"\n{'source':<10} {'wall s (median)':>16} {'in-command s':>13} {'peak RSS MB':>12} {'x Parquet':>10}")
    for source, runs in results.items():
        wall = statistics.median(r["wall_s"] for r in runs)
        inside = statistics.median(r["seconds"] for r in runs)
        rss = max(r["peak_rss_mb"] for r in runs)
        print(f"{source:<10} {wall:>16.1f} {inside:>13.1f} {rss:>12.0f} {wall / base:>10.2f}")
    print("(wall: the whole process as cron runs it; in-command: the command after imports; runs: "
          + ", ".join(f"{s} " + "/".join(f"{r['wall_s']:.1f}" for r in runs) for s, runs in results.items()) + ")")


sys.path.insert(0, str(ROOT / "tests"))  # the tests' throwaway-cluster helpers
from postgres_server import copy_tables, find_bindir, query, start_server, stop_server  # noqa: E402

if __name__ == "__main__":
    main()
