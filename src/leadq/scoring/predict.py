"""Batch scoring: every open lead scored by a registered model, as a table a CRM can act on.

Output columns: `lead_id`, `current_stage`, `p_<target>` per target (empty for a stage the lead
already reached), `score`, `stage`, `reasons`, `model_name`, `model_version`, `as_of`,
`scored_at`.

- `score` = round(100 * p) of the last funnel stage the model predicts (e.g. `p_sql`): a
  probability in percent, 0-100; a lead that already reached that stage scores 100.
- `stage` routes by the thresholds stored with the model: `SQL` when `p_sql` is at or above
  its threshold (or the lead is already an SQL), else `MQL` likewise, else `nurture`.
- `reasons`: the three strongest signed contributions to the score's target (see
  `leadq.models.reasons` for the method).

Writing the table and its drift report is the step's job (`leadq.steps.predict`).
"""

from collections.abc import Callable

import numpy as np
import pandas as pd

from leadq.core.errors import BadInputError
from leadq.data.contract import STAGE_ORDER
from leadq.data.load import LoadedData
from leadq.features.engine import build_feature_table, open_leads, to_utc
from leadq.data.attributes import report_unparseable_numbers
from leadq.models.drift import PSI_WARNING, drift_report
from leadq.models.reasons import top_reasons
from leadq.scoring.routing import funnel_order, route_stages
from leadq.tracking.model_ref import ModelRef, load_artifacts
from leadq.tracking.pyfunc import predict_targets
DEFAULT_CHUNK_ROWS = 100_000
STALE_AFTER = pd.Timedelta(days=2)
OPTIONAL_COLUMN_USERS = {
    "duration_s": ("time_on_",),
    "page": ("distinct_pages",),
    "content_id": ("distinct_content",),
}


def stale_data_warning(as_of: pd.Timestamp, clock: pd.Timestamp) -> list[str]:
    """A warning line when the default cutoff (the latest event) is over two days before now."""
    if clock - as_of <= STALE_AFTER:
        return []
    return [f"--as-of defaults to the latest event, {as_of.isoformat()}, which is "
            f"{(clock - as_of).days} days before now: recency features describe that day"]


def check_spec_needs(data, leads_columns: set[str], spec, present_event_columns: set[str]) -> None:
    """One line naming the first column the model's feature spec needs and the data lacks.

    `data` is any loaded-tables object with `sources` and `count(table)` (DuckDB or Spark)."""
    for name in [*spec.numeric_attributes, *spec.categorical_attributes]:
        if name not in leads_columns:
            raise BadInputError(
                f"{data.sources['leads']}: column '{name}' is needed by the model's feature spec but "
                f"missing in all {data.count('leads')} rows"
            )
    features = spec.feature_columns()
    for column, prefixes in OPTIONAL_COLUMN_USERS.items():
        needed = any(f.startswith(p) for f in features for p in prefixes)
        if needed and column not in present_event_columns and data.count("events"):
            raise BadInputError(
                f"{data.sources['events']}: column '{column}' is needed by the model's feature spec but "
                f"missing in all {data.count('events')} rows"
            )


def score_header(funnel: list[str]) -> list[str]:
    """The output columns for a model predicting the targets in `funnel` order."""
    return ["lead_id", "current_stage", *[f"p_{t}" for t in funnel], "score", "stage", "reasons",
            "model_name", "model_version", "as_of", "scored_at"]


def finish_scores(scored: pd.DataFrame, funnel: list[str], artifacts, model: ModelRef,
                  as_of: pd.Timestamp, scored_at: str, feature_sample: pd.DataFrame,
                  warnings: list[str], engine: str = "duckdb") -> tuple[pd.DataFrame, dict, list[str]]:
    """Score, routing and model columns for scored leads (`lead_id`, `current_stage`, the
    `p_<target>` columns already masked, `reasons`), and the drift report.

    `model` is the resolved model whose name and version label every row.
    """
    score_target = funnel[-1]
    last = scored[f"p_{score_target}"]
    scored["score"] = np.where(last.isna(), 100, np.round(100 * last.fillna(0))).astype(int)
    scored["stage"] = route_stages(scored, funnel, artifacts.thresholds)
    scored["model_name"] = model.name or model.uri
    scored["model_version"] = model.version
    scored["as_of"] = as_of.isoformat()
    scored["scored_at"] = scored_at
    scored = scored[score_header(funnel)]
    # Like for like: the reference describes leads still open for the score's target (the
    # model's examples), so leads that already reached it (scored 100 by rule) stay out.
    still_open = scored[f"p_{score_target}"].notna().to_numpy()
    psi, drift_warnings = drift_report(scored[still_open], feature_sample[still_open],
                                       artifacts.reference, f"p_{score_target}")
    warnings = [*warnings, *drift_warnings]
    report = {
        "leads_scored": int(len(scored)),
        "as_of": as_of.isoformat(),
        "scored_at": scored_at,
        "model_uri": model.uri,
        "model_version": model.version,
        "engine": engine,
        "stage_share": {s: float(v) for s, v in scored["stage"].value_counts(normalize=True).items()},
        "psi": psi,
        "psi_warning_level": PSI_WARNING,
        "warnings": warnings,
    }
    return scored, report, warnings


def score_chunk(pipelines: dict, spec, funnel: list[str], keys: pd.DataFrame,
                features: pd.DataFrame) -> pd.DataFrame:
    """`lead_id`, `current_stage`, the masked `p_<target>` columns and `reasons` for one chunk
    of open leads (`keys`) and their feature rows (`features`, same order).

    Scores come from the code the pyfunc runs (`predict_targets`); the reasons' contributions
    come out of the same pass over the score target's model."""
    columns = spec.feature_columns()
    probabilities, contributions = predict_targets(
        pipelines, features, columns, spec.categorical_columns(), explain=funnel[-1])
    rank = {s: i for i, s in enumerate(["lead", *STAGE_ORDER])}
    part = pd.DataFrame({"lead_id": keys["lead_id"].to_numpy(),
                         "current_stage": keys["current_stage"].to_numpy()})
    current = part["current_stage"].map(rank).fillna(0).to_numpy()
    for target in funnel:
        p = probabilities[f"p_{target}"].to_numpy(dtype=float)
        part[f"p_{target}"] = np.where(current >= rank.get(target, len(rank)), np.nan, p)
    contributions = pd.DataFrame(contributions, columns=columns, index=features.index)
    part["reasons"] = top_reasons(contributions, features[columns]).to_numpy()
    return part


def predict_leads(
    data: LoadedData,
    model: ModelRef,
    as_of=None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[int, int], None] | None = None,
    present_event_columns: set[str] | None = None,
) -> tuple[pd.DataFrame, dict, list[str]]:
    """Score every open lead of `data`; returns (scored table, drift report, warnings)."""
    artifacts = load_artifacts(model)
    pipelines = artifacts.load_pipelines()
    warnings: list[str] = []
    spec = artifacts.spec
    leads_columns = set(data.con.execute("SELECT * FROM leads LIMIT 0").df().columns)
    present = set(OPTIONAL_COLUMN_USERS) if present_event_columns is None else present_event_columns
    check_spec_needs(data, leads_columns, spec, present)
    # The model's recorded attribute types, not this data's, decide how attributes are read.
    report_unparseable_numbers(data.con, data.sources["leads"], spec.numeric_attributes, warnings,
                               data.max_bad_fraction)
    if as_of is None:
        latest = data.con.execute("SELECT max(ts) FROM events").fetchall()[0][0]
        as_of = to_utc(latest) if latest is not None else data.clock
        warnings += stale_data_warning(as_of, data.clock)
    as_of = to_utc(as_of)
    funnel = funnel_order(artifacts.targets)
    leads = open_leads(data, as_of)
    scored_at = pd.Timestamp.now(tz="UTC").isoformat()
    chunks, samples = [], []
    total = len(leads)
    for start in range(0, total, chunk_rows):
        keys = leads.iloc[start:start + chunk_rows]
        features = build_feature_table(data, spec, keys[["lead_id", "cutoff"]])
        chunks.append(score_chunk(pipelines, spec, funnel, keys, features))
        samples.append(features[[c for c in artifacts.reference.get("features", {}) if c in features]])
        if progress:
            progress(min(start + chunk_rows, total), total)
    if not chunks:
        return (pd.DataFrame(columns=score_header(funnel)),
                {"leads_scored": 0, "as_of": as_of.isoformat(), "scored_at": scored_at, "model_uri": model.uri,
                 "model_version": model.version, "warnings": warnings}, warnings)
    scored = pd.concat(chunks, ignore_index=True)
    return finish_scores(scored, funnel, artifacts, model, as_of, scored_at,
                         pd.concat(samples, ignore_index=True), warnings)
