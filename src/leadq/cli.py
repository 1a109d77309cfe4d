"""The `leadq` command line: parse, call one library function, print."""

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from leadq import __version__
from leadq.errors import LeadqError

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


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the four Parquet tables to.")],
    leads: Annotated[int, typer.Option("--leads", min=1, help="Number of leads.")] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    end: Annotated[Optional[str], typer.Option("--end", help="Date the history ends (default 2026-06-30).")] = None,
) -> None:
    """Write synthetic engagement histories: leads, events, outcomes and the generator's truth."""
    from leadq.generation import generate_to_dir

    with user_errors():
        counts = generate_to_dir(out, n_leads=leads, seed=seed, end=end)
    typer.echo(", ".join(f"{n:,} {table}" for table, n in counts.items()) + f" written to {out}")


@app.command()
def features(
    data: DataOpt,
    as_of: Annotated[str, typer.Option("--as-of", help="Cutoff: only events strictly before it count.")],
    out: Annotated[Path, typer.Option("--out", help="Output file, .csv or .parquet.")],
    mapping: MappingOpt = None,
) -> None:
    """Write one feature vector per open lead as of a cutoff."""
    from leadq.pipeline_features import features_to_file

    with user_errors():
        n_rows, report = features_to_file(data, as_of, out, mapping)
    _print_report(report)
    typer.echo(f"{n_rows:,} leads with features as of {as_of} written to {out}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo's data and outputs.")] = Path("data/demo"),
    leads: Annotated[int, typer.Option("--leads", min=1000, help="Number of generated leads.")] = 20_000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Run the whole pipeline on generated data with built-in defaults."""
    from leadq.demo import run_demo

    with user_errors():
        run_demo(out, n_leads=leads, seed=seed, echo=typer.echo)


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
) -> None:
    """Score open leads by a rule scorecard as of a cutoff."""
    from leadq.pipeline_rules import rules_score_to_file

    with user_errors():
        n_rows, cutoff, report = rules_score_to_file(rules, data, out, as_of, mapping)
    _print_report(report)
    typer.echo(f"{n_rows:,} leads scored by {rules} as of {cutoff} written to {out}")


def run() -> None:  # pragma: no cover - console entry for `python -m leadq`
    """Entry point for `python -m leadq`."""
    app(prog_name="leadq")
    sys.exit(0)
