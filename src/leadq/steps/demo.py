"""`leadq demo`: the whole pipeline on generated data with built-in defaults.

Generate a synthetic funnel, build features, train and register the MQL/SQL models in MLflow,
compare them with the default rule scorecard, score the open leads with the new model and show
the ten best with their reasons; then score the leads as of three weekly dates back-dated into the
model's test window (so their outcomes are known) and monitor those runs and today's.
"""

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from leadq.config import load_config
from leadq.steps.generate import generate_to_dir
from leadq.steps.monitor import describe_monitoring
from leadq.steps.monitor import monitor_to_dir
from leadq.steps.features import features_to_file
from leadq.steps.compare import compare_to_dir
from leadq.steps.predict import predict_to_file
from leadq.steps.train import train_from_files
from leadq.data.synth import DEFAULT_END


def run_demo(
    out: Path,
    n_leads: int = 15_000,
    seed: int = 0,
    echo: Callable[[str], None] = print,
    tracking_uri: str | None = None,
    config_path: Path | None = None,
) -> dict:
    """Run generate → features → train → predict into `out`; returns what each step produced."""
    out = Path(out)
    started = time.perf_counter()

    def say(text: str) -> None:
        echo(f"[demo {time.perf_counter() - started:5.1f}s] {text}")

    counts = generate_to_dir(out, n_leads=n_leads, seed=seed)
    say(f"generated {counts['leads']:,} leads, {counts['events']:,} events, {counts['outcomes']:,} outcomes in {out}")
    features_path = out / "features.parquet"
    n_rows, _ = features_to_file(out, DEFAULT_END.isoformat(), features_path)
    say(f"features of {n_rows:,} open leads as of {DEFAULT_END.date()} written to {features_path}")

    config = load_config(config_path)
    config = config.model_copy(update={"data": config.data.model_copy(update={"dir": str(out)})})
    outcome = train_from_files(data_dir=out, tracking_uri=tracking_uri, config=config)
    for target, tm in outcome.result.targets.items():
        test = tm.test
        say(f"trained {target}: {tm.chosen}, test ROC AUC {test['roc_auc']:.3f} "
            f"(oracle {test.get('oracle_roc_auc', float('nan')):.3f}), ECE {test['ece']:.4f}")
    say(f"run {outcome.run_id} in {outcome.tracking_uri}; registered "
        f"{config.registry.model_name} version {outcome.version}; {outcome.decision.reason}")

    model_ref = f"{config.registry.model_name}/{outcome.version}"
    comparison = compare_to_dir(out / "compare", model_ref=model_ref, data_dir=out,
                                tracking_uri=outcome.tracking_uri)
    for target, summary_row in comparison.comparison.summary.items():
        say(f"{target}: at the rules' capacity ({summary_row['capacity']:,} leads) the model captures "
            f"{summary_row['recall_gain']:+.0%} conversions (95 % interval {summary_row['recall_gain_lo']:+.0%} "
            f"to {summary_row['recall_gain_hi']:+.0%})")
    say(f"comparison report: {comparison.out / 'report.html'}")

    scores_path = out / "scores.csv"
    summary = predict_to_file(out, scores_path, model_ref, tracking_uri=outcome.tracking_uri)
    shares = ", ".join(f"{s} {v:.1%}" for s, v in sorted(summary.stage_shares.items()))
    say(f"scored {summary.n_leads:,} open leads ({shares}) into {scores_path}")
    echo("top ten leads:")
    with pd.option_context("display.max_colwidth", 90, "display.width", 200):
        echo(summary.top[["lead_id", "score", "stage", "reasons"]].to_string(index=False))

    last_cutoff = outcome.result.split.test[-1]
    back_dated = [last_cutoff - pd.Timedelta(weeks=k) for k in (2, 1, 0)]
    for as_of in back_dated:
        predict_to_file(out, out / "scoring_runs" / f"{as_of.date()}.csv", model_ref, as_of,
                        tracking_uri=outcome.tracking_uri)
    say(f"scored the leads as of {', '.join(str(d.date()) for d in back_dated)} (back-dated: their "
        f"{config.horizon_days}-day outcomes are known) into {out / 'scoring_runs'}")
    monitoring = monitor_to_dir([out / "scoring_runs", scores_path], out, out / "monitor",
                                tracking_uri=outcome.tracking_uri)
    for line in describe_monitoring(monitoring):
        say(line.strip())
    say("done")
    return {"counts": counts, "training": outcome, "comparison": comparison, "prediction": summary,
            "monitoring": monitoring}
