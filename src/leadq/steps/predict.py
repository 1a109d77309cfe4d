"""The `predict` step: resolve the model once, read the data, score every open lead, then write
the table and its drift report `FILE.report.json`, or, for a database `--out`, replace that
night's rows of the output table and its report table in one transaction
(`leadq.scoring.sink`).

The data source is decided here, once: a folder of the three tables (in-process engine or
Spark) or a single lead-level file. Both outputs go to temporary names and are renamed only
when both are complete, so a crash leaves the previous night's files as they were.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from leadq.core.errors import BadInputError
from leadq.data.database import is_database_url, redact_url
from leadq.core.files import check_table_suffix, refuse_outputs_over_inputs, table_inputs, write_table_with_report
from leadq.core.timestamps import future_cutoff_warning
from leadq.data.contract import TABLES
from leadq.data.load import load_data
from leadq.data.mapping import DataMapping
from leadq.features.engine import to_utc
from leadq.scoring.lead_table import predict_lead_table
from leadq.scoring.predict import DEFAULT_CHUNK_ROWS, predict_leads
from leadq.scoring.sink import parse_sink, write_scores
from leadq.tracking.logged import logged_mapping
from leadq.tracking.model_ref import resolve_model_ref
from leadq.tracking.store import resolve_tracking_uri
from leadq.tracking.store_access import open_store

ENGINES = ("duckdb", "spark")


@dataclass
class PredictionSummary:
    """What a scoring run did: where it wrote, how many leads, routing shares and warnings."""

    out: Path | str
    report_path: Path | str
    n_leads: int
    as_of: pd.Timestamp
    model_name: str
    model_version: str
    stage_shares: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    top: pd.DataFrame | None = None


def report_path_for(out: Path) -> Path:
    """Where the drift report of the scores at `out` is written."""
    return out.with_name(out.name + ".report.json")


def predict_to_file(
    data_dir: Path,
    out: Path,
    model_ref: str | None = None,
    as_of=None,
    tracking_uri: str | None = None,
    mapping: DataMapping | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[int, int], None] | None = None,
    clock=None,
    engine: str = "duckdb",
    spark_master: str | None = None,
    out_table: str | None = None,
) -> PredictionSummary:
    """Score every open lead of `data_dir` with the model `model_ref` names; write `out` and
    `out.report.json`.

    `data_dir` is a folder of the three tables, or one lead-level file scored with the model's
    own reading of it (`as_of`, `mapping`, `chunk_rows` and `engine` do not apply then). The
    tables are read with `mapping`, else with the mapping logged with the model's run.
    `data_dir` and `out` may be database URLs (`leadq.data.database`); a database `out` writes
    table `out_table` (default `lead_scores`) and its `_report` table.
    """
    sink = parse_sink(out, out_table) if is_database_url(out) or out_table else None
    if sink is None:
        out = Path(out)
        check_table_suffix(out)
        inputs = [] if is_database_url(data_dir) else table_inputs(data_dir, TABLES)
        refuse_outputs_over_inputs([out, report_path_for(out)], inputs)
    if engine not in ENGINES:
        raise BadInputError(f"--engine: unknown engine '{engine}' (one of {', '.join(ENGINES)})")
    if engine == "spark" and (sink is not None or is_database_url(data_dir)):
        raise BadInputError(f"{redact_url(data_dir if sink is None else out)}: --engine spark reads and writes "
                            "files; use --engine duckdb for a database source or output")
    tracking_uri = resolve_tracking_uri(tracking_uri)
    store_notes = open_store(tracking_uri, create=False)  # a read: never creates a store
    model = resolve_model_ref(model_ref, tracking_uri)
    if mapping is None and not Path(data_dir).is_file():
        mapping = logged_mapping(model) or DataMapping()
    if Path(data_dir).is_file():  # a lead-level table, scored by a model trained on one
        if sink is not None:
            raise BadInputError(f"{data_dir}: a database --out takes scores of a data folder or database "
                                "(leads, events, outcomes), not of a lead-level table")
        scored, report, warnings = predict_lead_table(data_dir, model)
        data_report = list(report.get("data_report", []))
        warnings = [w for w in warnings if w not in data_report]
    elif engine == "spark":
        from leadq.spark.predict import score_folder_spark  # pyspark is an optional extra

        scored, report, warnings, data_report = score_folder_spark(
            data_dir, model, as_of, mapping, chunk_rows, spark_master, clock)
    else:
        data = load_data(data_dir, mapping, clock=clock, require_leads=False)
        if as_of is not None:
            data.report.extend(future_cutoff_warning(to_utc(as_of), data.clock))
        scored, report, warnings = predict_leads(
            data, model, as_of, chunk_rows, progress, present_event_columns=set(data.event_columns),
        )
        data_report = list(data.report)
    data_report = [*store_notes, *data_report]
    report["data_report"] = data_report
    if sink is not None:
        write_scores(sink, scored, report)
        out, report_path = sink.label, sink.report_label
    else:
        report_path = report_path_for(out)
        write_table_with_report(scored, out, json.dumps(report, indent=2, default=float), report_path)
    p_columns = [c for c in scored.columns if c.startswith("p_")]
    last = p_columns[-1] if p_columns else None
    candidates = scored[scored[last].notna()] if last else scored
    top = candidates.sort_values([last, "lead_id"], ascending=[False, True]).head(10) if last else candidates
    as_of_done = report.get("as_of") or report.get("scored_at")
    return PredictionSummary(
        out=out, report_path=report_path, n_leads=len(scored), as_of=to_utc(as_of_done),
        model_name=model.name, model_version=model.version,
        stage_shares=report.get("stage_share", {}), warnings=[*data_report, *warnings], top=top,
    )
