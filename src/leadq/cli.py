"""The `leadq` command line: parse, call one library function, print."""

import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from leadq import __version__
from leadq.core.errors import LeadqError

app = typer.Typer(
    help="Lead-quality scoring: point-in-time features, MLflow-tracked models, batch scoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _echo_error(message: str) -> None:
    typer.echo(f"error: {message}", err=True)


@contextmanager
def user_errors():
    """Turn a user's mistake into one line on stderr and the documented exit code."""
    try:
        yield
    except LeadqError as exc:
        _echo_error(exc.message)
        raise typer.Exit(exc.exit_code) from None


def _print_report(lines: list[str]) -> None:
    for line in lines:
        typer.echo(f"warning: {line}", err=True)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"leadq {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    """leadq scores the quality of marketing leads."""


DataOpt = Annotated[Path, typer.Option("--data", help="Folder with leads, events and outcomes tables.")]
MappingOpt = Annotated[
    Optional[Path], typer.Option("--mapping", help="YAML mapping of your column names and event types.")
]


class Engine(str, Enum):
    duckdb = "duckdb"
    spark = "spark"


EngineOpt = Annotated[
    Engine, typer.Option("--engine", help="duckdb (in process) or spark (needs the 'spark' extra).")
]
SparkMasterOpt = Annotated[
    Optional[str],
    typer.Option("--spark-master", help="Spark master URL for --engine spark (default: spark-submit's, else local[2])."),
]


ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="Pipeline config YAML (default: built-in).")]
TrackingOpt = Annotated[
    Optional[str], typer.Option("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///models/mlflow.db).")
]


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the four Parquet tables to.")],
    leads: Annotated[int, typer.Option("--leads", min=1, help="Number of leads.")] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    end: Annotated[Optional[str], typer.Option("--end", help="Date the history ends (default 2026-06-30).")] = None,
) -> None:
    """Write synthetic engagement histories: leads, events, outcomes and the generator's truth."""
    from leadq.steps.generate import generate_to_dir

    with user_errors():
        counts = generate_to_dir(out, n_leads=leads, seed=seed, end=end)
    typer.echo(", ".join(f"{n:,} {table}" for table, n in counts.items()) + f" written to {out}")


@app.command()
def features(
    data: DataOpt,
    as_of: Annotated[str, typer.Option("--as-of", help="Cutoff: only events strictly before it count.")],
    out: Annotated[Path, typer.Option("--out", help="Output file, .csv or .parquet.")],
    mapping: MappingOpt = None,
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
) -> None:
    """Write one feature vector per open lead as of a cutoff."""
    from leadq.steps.features import features_to_file

    with user_errors():
        n_rows, report = features_to_file(data, as_of, out, mapping, engine=engine.value, spark_master=spark_master)
    _print_report(report)
    typer.echo(f"{n_rows:,} leads with features as of {as_of} written to {out}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo's data and outputs.")] = Path("data/demo"),
    leads: Annotated[int, typer.Option("--leads", min=1000, help="Number of generated leads.")] = 20_000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Run the whole pipeline on generated data with built-in defaults."""
    from leadq.steps.demo import run_demo

    _quiet_mlflow()
    with user_errors():
        run_demo(out, n_leads=leads, seed=seed, echo=typer.echo, tracking_uri=tracking_uri)


def _quiet_mlflow() -> None:
    """Keep MLflow's and its database migrations' info lines off the terminal."""
    import logging
    import os

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _print_training(outcome) -> None:
    result = outcome.result
    for target, tm in result.targets.items():
        test = tm.test
        oracle = f", oracle {test['oracle_roc_auc']:.3f}" if "oracle_roc_auc" in test else ""
        typer.echo(
            f"{target}: {tm.chosen} | test ROC AUC {test['roc_auc']:.3f}{oracle} | PR AUC {test['pr_auc']:.3f} | "
            f"log loss {test['log_loss']:.4f} | ECE {test['ece']:.4f} | threshold {tm.threshold:.3f}"
        )
    extra = result.extra_metrics
    if "cv_roc_auc_mean" in extra:  # cross-validated lead table: test figures are out-of-fold
        typer.echo(
            f"{int(extra['cv_folds'])}-fold CV: ROC AUC {extra['cv_roc_auc_mean']:.4f} ± {extra['cv_roc_auc_std']:.4f}, "
            f"Brier {extra['cv_brier_mean']:.4f} ± {extra['cv_brier_std']:.4f} | plain HistGradientBoosting: "
            f"ROC AUC {extra['baseline_cv_roc_auc_mean']:.4f} ± {extra['baseline_cv_roc_auc_std']:.4f}, "
            f"Brier {extra['baseline_cv_brier_mean']:.4f} ± {extra['baseline_cv_brier_std']:.4f}"
        )
    typer.echo(f"run {outcome.run_id} logged to {outcome.tracking_uri}")
    d = outcome.decision
    typer.echo(f"registered version {outcome.version}; gate: {d.reason}")


@app.command()
def train(
    config: ConfigOpt = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Data folder (default: the config's data.dir).")] = None,
    tracking_uri: TrackingOpt = None,
    mapping: Annotated[
        Optional[Path], typer.Option("--mapping", help="YAML mapping of your export (default: the config's data.mapping).")
    ] = None,
) -> None:
    """Train the MQL/SQL models on snapshots, log the run to MLflow, register and gate."""
    from leadq.steps.train import train_from_files
    from leadq.models.train import terminal_progress

    _quiet_mlflow()
    with user_errors(), terminal_progress() as progress:
        outcome = train_from_files(config, data, tracking_uri, progress, mapping_path=mapping)
    _print_report(outcome.data_report)
    _print_training(outcome)


@app.command()
def models(
    name: Annotated[Optional[str], typer.Option("--name", help="Registered model name.")] = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """List registered versions with aliases, key test metrics and training date."""
    from leadq.config import load_config
    from leadq.tracking.registry import list_versions
    from leadq.tracking.store import resolve_tracking_uri

    _quiet_mlflow()
    with user_errors():
        model_name = name or load_config(None).registry.model_name
        table = list_versions(model_name, resolve_tracking_uri(tracking_uri))
    typer.echo(f"{model_name}:")
    typer.echo(table.to_string(index=False) if len(table) else "(no versions)")


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str, typer.Argument(help="Version to make champion.")],
    tracking_uri: TrackingOpt = None,
) -> None:
    """Move the `champion` alias to a version by hand."""
    from leadq.tracking.registry import promote as promote_version
    from leadq.tracking.store import resolve_tracking_uri

    _quiet_mlflow()
    with user_errors():
        previous = promote_version(name, version, resolve_tracking_uri(tracking_uri))
    was = f" (was version {previous})" if previous else ""
    typer.echo(f"{name}: champion is now version {version}{was}")


@app.command()
def predict(
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", help="Output file, .csv or .parquet.")],
    model: Annotated[
        Optional[str], typer.Option("--model", help="NAME@ALIAS, NAME/VERSION or runs:/... (default lead-quality@champion).")
    ] = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Cutoff (default: the latest event).")] = None,
    tracking_uri: TrackingOpt = None,
    mapping: Annotated[
        Optional[Path], typer.Option("--mapping", help="YAML mapping of your export (default: the one logged with the model).")
    ] = None,
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", min=1, help="Leads scored per chunk.")] = 100_000,
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
) -> None:
    """Score every open lead with a registered model; write the table and a drift report."""
    from leadq.data.mapping import DataMapping
    from leadq.steps.features import parse_timestamp
    from leadq.scoring.predict import predict_to_file
    from leadq.core.yaml_model import load_yaml_model

    _quiet_mlflow()
    with user_errors(), _chunk_progress() as progress:
        data_mapping = load_yaml_model(mapping, DataMapping) if mapping else None
        cutoff = parse_timestamp(as_of) if as_of else None
        if engine is Engine.spark:
            from leadq.spark.predict import predict_to_file_spark

            summary = predict_to_file_spark(data, out, model, cutoff, tracking_uri, data_mapping, chunk_rows,
                                            spark_master)
        else:
            summary = predict_to_file(data, out, model, cutoff, tracking_uri, data_mapping, chunk_rows, progress)
    _print_report(summary.warnings)
    _print_prediction(summary)


def _print_prediction(summary) -> None:
    shares = ", ".join(f"{s} {v:.1%}" for s, v in sorted(summary.stage_shares.items()))
    typer.echo(f"{summary.n_leads:,} leads scored as of {summary.as_of.isoformat()} by "
               f"{summary.model_name} version {summary.model_version} ({shares or 'none'})")
    typer.echo(f"written to {summary.out}; drift report {summary.report_path}")


@contextmanager
def _chunk_progress():
    if not sys.stdout.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("scoring", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@app.command()
def ui(
    tracking_uri: TrackingOpt = None,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 5000,
) -> None:
    """Open the MLflow UI on the default store (or the given tracking URI)."""
    import subprocess

    from leadq.tracking.store import artifact_location, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1",
               "--port", str(port)]
    root = artifact_location(uri)
    if root:
        command += ["--default-artifact-root", root]
    typer.echo(f"MLflow UI on http://127.0.0.1:{port} for {uri} (Ctrl-C to stop)")
    raise typer.Exit(subprocess.call(command))


rules_app = typer.Typer(help="Rule scorecards: score leads by points, learn points from data.",
                        no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("score")
def rules_score(
    rules: Annotated[Path, typer.Option("--rules", help="Scorecard YAML.")],
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", help="Output file, .csv or .parquet.")],
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Cutoff (default: latest event).")] = None,
    mapping: MappingOpt = None,
    config: Annotated[
        Optional[Path],
        typer.Option("--config", help="Pipeline config with a lead_table section, when --data is a lead-level file."),
    ] = None,
) -> None:
    """Score open leads by a rule scorecard as of a cutoff (or every lead of a lead-level table)."""
    if data.is_file() or config is not None:
        from leadq.config import load_config
        from leadq.core.files import write_table
        from leadq.data.lead_table import score_lead_table_rules
        from leadq.rules.scorecard import load_scorecard

        with user_errors():
            pipeline = load_config(config)
            table = score_lead_table_rules(pipeline, data, load_scorecard(rules))
            write_table(table, out)
        typer.echo(f"{len(table):,} leads scored by {rules} written to {out}")
        return
    from leadq.steps.rules import rules_score_to_file

    with user_errors():
        n_rows, cutoff, report = rules_score_to_file(rules, data, out, as_of, mapping)
    _print_report(report)
    typer.echo(f"{n_rows:,} leads scored by {rules} as of {cutoff} written to {out}")


@app.command()
def compare(
    out: Annotated[Path, typer.Option("--out", help="Folder for report.html, the plots and comparison.csv.")],
    model: Annotated[
        Optional[str], typer.Option("--model", help="NAME@ALIAS, NAME/VERSION or runs:/... (default lead-quality@champion).")
    ] = None,
    rules: Annotated[
        Optional[Path], typer.Option("--rules", help="Scorecard YAML (default pipelines/rules/default.yaml).")
    ] = None,
    config: Annotated[
        Optional[Path], typer.Option("--config", help="Pipeline config (default: the one logged with the model's run).")
    ] = None,
    data: Annotated[
        Optional[Path], typer.Option("--data", help="Data folder (default: the one logged with the model's run).")
    ] = None,
    learned: Annotated[
        Optional[Path], typer.Option("--learned", help="Learned scorecard YAML (default: fitted on the training window).")
    ] = None,
    tracking_uri: TrackingOpt = None,
    mapping: Annotated[
        Optional[Path], typer.Option("--mapping", help="YAML mapping of your export (default: the config's, logged with the model).")
    ] = None,
) -> None:
    """Compare the model with the rule scorecard on the model's test window (report + MLflow run)."""
    from leadq.compare.core import compare_to_dir, describe
    from leadq.core.yaml_model import load_yaml_model
    from leadq.data.mapping import DataMapping
    from leadq.models.train import terminal_progress

    _quiet_mlflow()
    with user_errors(), terminal_progress("comparing") as progress:
        data_mapping = load_yaml_model(mapping, DataMapping) if mapping else None
        outcome = compare_to_dir(out, model, rules, config, data, tracking_uri, learned, progress=progress,
                                 mapping=data_mapping)
    _print_report(outcome.warnings)
    for line in describe(outcome):
        typer.echo(line)
    typer.echo(f"report {outcome.out / 'report.html'}; run {outcome.run_id} logged to {outcome.tracking_uri}")


@rules_app.command("learn")
def rules_learn(
    out: Annotated[Path, typer.Option("--out", help="Scorecard YAML to write.")],
    data: Annotated[Optional[Path], typer.Option("--data", help="Data folder (default: the config's data.dir).")] = None,
    config: ConfigOpt = None,
    target: Annotated[
        Optional[str], typer.Option("--target", help="Stage the points are fitted for (default: the last target, sql).")
    ] = None,
    rules: Annotated[
        Optional[Path], typer.Option("--rules", help="Reference scorecard lending its decay and inactivity days.")
    ] = None,
) -> None:
    """Fit integer points (sparse logistic regression) on the training window; write a scorecard."""
    from leadq.rules.learned import describe_learned, learn_to_file

    with user_errors():
        learned = learn_to_file(out, data, config, target, rules)
    for line in describe_learned(learned):
        typer.echo(line)
    typer.echo(f"written to {out}")


def run() -> None:  # pragma: no cover - console entry for `python -m leadq`
    """Entry point for `python -m leadq`."""
    app(prog_name="leadq")
    sys.exit(0)
