"""Benchmark: twelve weekly scoring runs after training, then `leadq monitor` over them (a script,
not a test), on generated data with and without a shift of the funnel.

One data set is generated three times with the same seed: unshifted, with a `conversion` shift
(every lead converts at 40 % of the former rate) and with a `buyers` shift (prospects x 0.3,
tire-kickers x 1/0.3); before the shift date the three are identical. A model is trained on
the history known at T0 (`snapshots.end`), 12 weeks and one horizon before the data's end, so
all twelve weekly runs after T0 have their outcomes. The shift starts a day after the eighth
run: runs 9 to 12 are scored after it, runs 1 to 3 have their whole horizon before it (the
unshifted period), runs 4 to 8 have horizons that straddle it. Printed: the test window's ROC AUC, each run's
realized ROC AUC and status per data set, the largest distance of an unshifted run's realized
ROC AUC from the test AUC, the first flagged run after the shift, the verdicts, and the time
`monitor` took beside the time the twelve `predict` runs took (the baseline).

    python benchmarks/bench_monitor.py [--leads 20000] [--seed 0] [--workdir DIR]
"""

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

WEEKS = 12
SHIFT_AFTER_RUN = 8
KINDS = {"unshifted": None, "conversion": 0.4, "buyers": 0.3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="Keep the data, scores and reports here.")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as scratch:
        run(args, args.workdir or Path(scratch))


def run(args, root: Path) -> None:
    import pandas as pd

    from leadq.config import load_config
    from leadq.data.synth import DEFAULT_END
    from leadq.steps.predict import predict_to_file
    from leadq.steps.generate import generate_to_dir
    from leadq.steps.monitor import monitor_to_dir
    from leadq.steps.train import train_from_files

    root.mkdir(parents=True, exist_ok=True)
    config = load_config(None)
    horizon = pd.Timedelta(days=config.horizon_days)
    t0 = (DEFAULT_END - horizon - pd.Timedelta(weeks=WEEKS) - pd.Timedelta(days=1)).floor("D")
    run_dates = [t0 + pd.Timedelta(weeks=k) for k in range(1, WEEKS + 1)]
    shift_at = run_dates[SHIFT_AFTER_RUN - 1] + pd.Timedelta(days=1)
    print(f"{args.leads:,} leads; trained on the history known at {t0.date()}; weekly runs "
          f"{run_dates[0].date()} to {run_dates[-1].date()}; shifts from {shift_at.date()} (after run {SHIFT_AFTER_RUN})")
    folders = {}
    for kind, factor in KINDS.items():
        folders[kind] = root / kind
        shift = {} if factor is None else {"shift": kind, "shift_after": shift_at.isoformat(), "shift_factor": factor}
        generate_to_dir(folders[kind], n_leads=args.leads, seed=args.seed, **shift)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    config = config.model_copy(update={
        "snapshots": config.snapshots.model_copy(update={"end": t0.to_pydatetime()}),
        "data": config.data.model_copy(update={"dir": str(folders["unshifted"])}),
    })
    started = time.perf_counter()
    outcome = train_from_files(data_dir=folders["unshifted"], tracking_uri=uri, config=config)
    train_s = time.perf_counter() - started
    model = f"{config.registry.model_name}/{outcome.version}"
    tests = {t: tm.test["roc_auc"] for t, tm in outcome.result.targets.items()}
    print(f"trained in {train_s:.0f} s; test ROC AUC " + ", ".join(f"{t} {v:.3f}" for t, v in tests.items()))

    results = {}
    for kind, folder in folders.items():
        started = time.perf_counter()
        for as_of in run_dates:
            predict_to_file(folder, root / f"scores_{kind}" / f"{as_of.date()}.parquet", model, as_of, uri)
        predict_s = time.perf_counter() - started
        started = time.perf_counter()
        results[kind] = monitor_to_dir([root / f"scores_{kind}"], folder, root / f"monitor_{kind}", tracking_uri=uri)
        monitor_s = time.perf_counter() - started
        print(f"\n{kind}: 12 predict runs {predict_s:.1f} s (baseline); monitor {monitor_s:.1f} s "
              f"(ratio {monitor_s / predict_s:.2f}); verdict {results[kind].verdicts.iloc[0]['verdict']}: "
              f"{results[kind].verdicts.iloc[0]['reason']}")
        table = results[kind].table
        for target in tests:
            part = table[table["target"] == target].sort_values("as_of")
            cells = [f"{r['roc_auc']:.3f} {r['status'][:5]}" for _, r in part.iterrows()]
            print(f"  {target} realized ROC AUC per run: " + " | ".join(cells))
            print(f"  {target} observed/predicted per run: "
                  + " ".join(f"{v:.2f}" for v in part["observed_to_predicted"]))
            if kind == "unshifted":
                gap = (part["roc_auc"] - part["test_roc_auc"]).abs().max()
                inside = ((part["roc_auc"] >= part["test_roc_auc_lo"]) & (part["roc_auc"] <= part["test_roc_auc_hi"])).mean()
                print(f"  {target}: largest |realized - test| ROC AUC {gap:.3f} (test {tests[target]:.3f}, interval "
                      f"[{part['test_roc_auc_lo'].iloc[0]:.3f}, {part['test_roc_auc_hi'].iloc[0]:.3f}]); "
                      f"{inside:.0%} of runs inside the test interval")
        runs = results[kind].runs.sort_values("as_of").reset_index(drop=True)
        flagged = [i + 1 for i, r in runs.iterrows() if r["status"] in ("recalibrate", "retrain")]
        clean = [i + 1 for i, d in enumerate(run_dates) if d + horizon <= shift_at]
        after = [i - SHIFT_AFTER_RUN for i in flagged if i > SHIFT_AFTER_RUN]
        print(f"  flagged runs: {flagged or 'none'}; of the unshifted period (runs {clean[0]}-{clean[-1]}): "
              f"{[i for i in flagged if i in clean] or 'none'}; first flagged run scored after the shift: "
              f"{('number ' + str(after[0])) if after else 'none'}")


if __name__ == "__main__":
    main()
