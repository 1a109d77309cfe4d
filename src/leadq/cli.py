"""The `leadq` command line: parse, call one library function, print."""

import sys
from collections.abc import Callable, Iterator
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


@contextmanager
def terminal_progress(description: str = "training") -> Iterator[Callable[[str, int, int], None] | None]:
    """A rich progress bar callback when stdout is a terminal, else None (for the CLI)."""
    import sys

    if not sys.stdout.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), transient=True
    ) as bar:
        task = bar.add_task(description, total=1)

        def update(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=max(total, 1))

        yield update


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


DataOpt = Annotated[str, typer.Option(
    "--data", help="Folder with leads, events and outcomes tables, or a postgresql:// or duckdb:/// URL.")]
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
AllowLocalModelOpt = Annotated[
    bool,
    typer.Option("--allow-local-model",
                 help="Allow --model to be a local folder or file: URI. Loading a model runs its code: "
                      "only for folders you trust."),
]
TrackingOpt = Annotated[
    Optional[str], typer.Option("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///models/mlflow.db).")
]


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the four Parquet tables to.")],
    leads: Annotated[int, typer.Option("--leads", min=1, help="Number of leads.")] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    end: Annotated[Optional[str], typer.Option("--end", help="Date the history ends (default 2026-06-30).")] = None,
    history_days: Annotated[int, typer.Option("--history-days", min=1, help="Days of history.")] = 365,
    shift: Annotated[
        Optional[str],
        typer.Option("--shift", help="Change the funnel from --shift-after on: 'conversion' (every lead's "
                     "conversion hazards x factor, default 0.4), 'buyers' (prospects' x factor, tire-kickers' "
                     "x 1/factor, default 0.3) or 'events' (a share of pricing views logged as page views, "
                     "default 0.8)."),
    ] = None,
    shift_after: Annotated[Optional[str], typer.Option("--shift-after", help="Date the change starts.")] = None,
    shift_factor: Annotated[
        Optional[float], typer.Option("--shift-factor", help="The change's factor or share (default per kind).")
    ] = None,
) -> None:
    """Write synthetic engagement histories: leads, events, outcomes and the generator's truth."""
    from leadq.steps.generate import generate_to_dir

    with user_errors():
        counts = generate_to_dir(out, n_leads=leads, seed=seed, end=end, history_days=history_days,
                                 shift=shift, shift_after=shift_after, shift_factor=shift_factor)
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
    leads: Annotated[int, typer.Option("--leads", min=1000, help="Number of generated leads.")] = 15_000,
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
    data: Annotated[Optional[str], typer.Option("--data", help="Data folder or database URL (default: the config's data.dir).")] = None,
    tracking_uri: TrackingOpt = None,
    mapping: Annotated[
        Optional[Path], typer.Option("--mapping", help="YAML mapping of your export (default: the config's data.mapping).")
    ] = None,
) -> None:
    """Train the MQL/SQL models on snapshots, log the run to MLflow, register and gate."""
    from leadq.steps.train import train_from_files

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
    """List registered versions: aliases, training date and data, key test metrics, the gate's
    verdict (or `incomplete`), promotions by hand and the latest realized figures."""
    from rich.console import Console

    from leadq.config import load_config
    from leadq.tracking.registry_record import versions_overview
    from leadq.tracking.registry_text import gate_notes, versions_table
    from leadq.tracking.store_access import existing_store

    _quiet_mlflow()
    with user_errors():
        model_name = name or load_config(None).registry.model_name
        uri, notes = existing_store(tracking_uri)
        overview = versions_overview(model_name, uri)
    _print_report(notes)
    if overview.empty:
        typer.echo(f"{model_name}: no versions")
        return
    # Piped or captured output is not cut to 80 columns: the table keeps its natural width.
    Console(width=None if sys.stdout.isatty() else 240).print(versions_table(overview, model_name))
    for line in gate_notes(overview):
        typer.echo(line)


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str, typer.Argument(help="Version to make champion.")],
    tracking_uri: TrackingOpt = None,
) -> None:
    """Move the `champion` alias to a version by hand (recorded on the version: who and when)."""
    from leadq.tracking.registry import resolve_version
    from leadq.tracking.registry_record import promote_by_hand
    from leadq.tracking.store_access import existing_store

    _quiet_mlflow()
    with user_errors():
        uri, notes = existing_store(tracking_uri)
        champion = resolve_version(name, version, uri)
        previous = promote_by_hand(name, champion, uri)
    _print_report(notes)
    was = f" (was version {previous})" if previous else ""
    typer.echo(f"{name}: champion is now version {champion}{was}")


@app.command()
def predict(
    data: DataOpt,
    out: Annotated[str, typer.Option("--out", help="Output file (.csv, .parquet) or a postgresql:// or duckdb:/// URL.")],
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
    out_table: Annotated[
        Optional[str], typer.Option("--out-table", help="Table for a database --out (default lead_scores; schema.name allowed).")
    ] = None,
    allow_local_model: AllowLocalModelOpt = False,
) -> None:
    """Score every open lead with a registered model; write the table and a drift report."""
    from leadq.core.model_refs import check_model_reference
    from leadq.core.timestamps import parse_timestamp
    from leadq.data.mapping import DataMapping
    from leadq.core.yaml_model import load_yaml_model
    from leadq.steps.predict import predict_to_file

    _quiet_mlflow()
    with user_errors(), _chunk_progress() as progress:
        model = check_model_reference(model, allow_local_model)
        data_mapping = load_yaml_model(mapping, DataMapping) if mapping else None
        cutoff = parse_timestamp(as_of) if as_of is not None else None
        summary = predict_to_file(data, out, model, cutoff, tracking_uri, data_mapping, chunk_rows, progress,
                                  engine=engine.value, spark_master=spark_master, out_table=out_table)
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
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port on 127.0.0.1.")] = 5000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Server worker processes.")] = 1,
) -> None:
    """Serve the MLflow UI on the default store (or the given tracking URI) until stopped;
    stopping leadq (Ctrl-C, SIGTERM) stops the server and all its workers."""
    from leadq.tracking.ui_server import serve_ui
    from leadq.tracking.store import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    with user_errors():
        code = serve_ui(uri, port, workers=workers, on_start=lambda _pgid: typer.echo(
            f"MLflow UI on http://127.0.0.1:{port} for {uri} (Ctrl-C to stop)"))
    raise typer.Exit(code)


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
    if Path(data).is_file() or config is not None:
        from leadq.steps.rules import rules_score_lead_table_to_file

        with user_errors():
            n_rows = rules_score_lead_table_to_file(rules, data, out, config)
        typer.echo(f"{n_rows:,} leads scored by {rules} written to {out}")
        return
    from leadq.steps.rules import rules_score_to_file

    with user_errors():
        n_rows, cutoff, report = rules_score_to_file(rules, data, out, as_of, mapping)
    _print_report(report)
    typer.echo(f"{n_rows:,} leads scored by {rules} as of {cutoff} written to {out}")


@app.command()
def monitor(
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", help="Folder for report.html, monitor.csv and calibration.csv.")],
    scores: Annotated[
        Optional[list[Path]],
        typer.Option("--scores", help="Score files written by `leadq predict`, or folders of them (repeatable)."),
    ] = None,
    more_scores: Annotated[
        Optional[list[Path]], typer.Argument(help="More score files or folders (`--scores a.csv b.csv` works).")
    ] = None,
    config: Annotated[
        Optional[Path],
        typer.Option("--config", help="Pipeline config whose `monitor` section sets the thresholds "
                     "(default: the one logged with each model)."),
    ] = None,
    tracking_uri: TrackingOpt = None,
    mapping: MappingOpt = None,
) -> None:
    """Judge issued scores by the outcomes they predicted: realized metrics, drift, a verdict per
    model version (exit code 7 for retrain)."""
    from leadq.core.yaml_model import load_yaml_model
    from leadq.data.mapping import DataMapping
    from leadq.steps.monitor import describe_monitoring, monitor_to_dir

    paths = [*(scores or []), *(more_scores or [])]
    if not paths:
        _echo_error("--scores: give at least one score file or folder")
        raise typer.Exit(2)
    _quiet_mlflow()
    with user_errors():
        data_mapping = load_yaml_model(mapping, DataMapping) if mapping else None
        outcome = monitor_to_dir(paths, data, out, config, tracking_uri, data_mapping)
    _print_report(outcome.warnings)
    for line in describe_monitoring(outcome):
        typer.echo(line)
    raise typer.Exit(outcome.exit_code)


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
        Optional[str], typer.Option("--data", help="Data folder or database URL (default: the one logged with the model's run).")
    ] = None,
    learned: Annotated[
        Optional[Path], typer.Option("--learned", help="Learned scorecard YAML (default: fitted on the training window).")
    ] = None,
    tracking_uri: TrackingOpt = None,
    allow_local_model: AllowLocalModelOpt = False,
    mapping: Annotated[
        Optional[Path], typer.Option("--mapping", help="YAML mapping of your export (default: the config's, logged with the model).")
    ] = None,
) -> None:
    """Compare the model with the rule scorecard on the model's test window (report + MLflow run)."""
    from leadq.compare.report import describe_comparison
    from leadq.core.model_refs import check_model_reference
    from leadq.core.yaml_model import load_yaml_model
    from leadq.data.mapping import DataMapping
    from leadq.steps.compare import compare_to_dir

    _quiet_mlflow()
    with user_errors(), terminal_progress("comparing") as progress:
        model = check_model_reference(model, allow_local_model)
        data_mapping = load_yaml_model(mapping, DataMapping) if mapping else None
        outcome = compare_to_dir(out, model, rules, config, data, tracking_uri, learned, progress=progress,
                                 mapping=data_mapping)
    _print_report(outcome.warnings)
    for line in describe_comparison(outcome.comparison, outcome.windows):
        typer.echo(line)
    typer.echo(f"report {outcome.out / 'report.html'}; run {outcome.run_id} logged to {outcome.tracking_uri}")


@rules_app.command("learn")
def rules_learn(
    out: Annotated[Path, typer.Option("--out", help="Scorecard YAML to write.")],
    data: Annotated[Optional[str], typer.Option("--data", help="Data folder or database URL (default: the config's data.dir).")] = None,
    config: ConfigOpt = None,
    target: Annotated[
        Optional[str], typer.Option("--target", help="Stage the points are fitted for (default: the last target, sql).")
    ] = None,
    rules: Annotated[
        Optional[Path], typer.Option("--rules", help="Reference scorecard lending its decay and inactivity days.")
    ] = None,
) -> None:
    """Fit integer points (sparse logistic regression) on the training window; write a scorecard."""
    from leadq.rules.learned import describe_learned
    from leadq.steps.rules import learn_to_file

    with user_errors():
        learned = learn_to_file(out, data, config, target, rules)
    for line in describe_learned(learned):
        typer.echo(line)
    typer.echo(f"written to {out}")


def run() -> None:  # pragma: no cover - console entry for `python -m leadq`
    """Entry point for `python -m leadq`."""
    app(prog_name="leadq")
    sys.exit(0)
