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

The output is written to a temporary name and renamed, so a crash leaves no partial file; a
drift report `FILE.report.json` is written beside it the same way.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from leadq.data.contract import STAGE_ORDER
from leadq.models.drift import PSI_WARNING, population_stability_index
from leadq.core.errors import BadInputError, ModelNotFoundError
from leadq.features.engine import build_feature_table, open_leads, to_utc
from leadq.core.files import atomic_path, write_table
from leadq.data.load import LoadedData, load_data
from leadq.data.mapping import DataMapping
from leadq.models.reasons import top_reasons

DEFAULT_MODEL = "lead-quality@champion"
DEFAULT_CHUNK_ROWS = 100_000
STALE_AFTER = pd.Timedelta(days=2)
OPTIONAL_COLUMN_USERS = {
    "duration_s": ("time_on_",),
    "page": ("distinct_pages",),
    "content_id": ("distinct_content",),
}


@dataclass
class PredictionSummary:
    """What a scoring run did: where it wrote, how many leads, routing shares and warnings."""

    out: Path
    report_path: Path
    n_leads: int
    as_of: pd.Timestamp
    model_name: str
    model_version: str
    stage_shares: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    top: pd.DataFrame | None = None


def parse_model_ref(ref: str | None) -> tuple[str, str, str]:
    """(model URI, registered name, version-or-alias) for NAME@ALIAS, NAME/VERSION, models:/ or runs:/."""
    ref = ref or DEFAULT_MODEL
    if ref.startswith("runs:/") or ref.startswith("file:") or ref.startswith("/"):
        return ref, "", ref
    rest = ref.removeprefix("models:/")
    if "@" in rest:
        name, alias = rest.split("@", 1)
        return f"models:/{name}@{alias}", name, alias
    if "/" in rest:
        name, version = rest.rsplit("/", 1)
        return f"models:/{name}/{version}", name, version
    return f"models:/{rest}@champion", rest, "champion"


def _funnel(targets: list[str]) -> list[str]:
    """Targets in funnel order (unknown stages keep their listed order, after known ones)."""
    known = [s for s in STAGE_ORDER if s in targets]
    return known + [t for t in targets if t not in known]


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


def _route(frame: pd.DataFrame, funnel: list[str], thresholds: dict[str, float]) -> np.ndarray:
    rank = {s: i for i, s in enumerate(["lead", *STAGE_ORDER])}
    current = frame["current_stage"].map(rank).fillna(0).to_numpy()
    stage = np.full(len(frame), "nurture", dtype=object)
    for target in funnel:  # later stages overwrite earlier ones
        reached = current >= rank.get(target, len(rank))
        passes = frame[f"p_{target}"].to_numpy(dtype=float) >= thresholds[target]
        stage = np.where(reached | passes, target.upper(), stage)
    return stage


def _drift_report(scored: pd.DataFrame, features_sample: pd.DataFrame, reference: dict,
                  score_column: str) -> tuple[dict, list[str]]:
    psi = {}
    ref_scores = reference.get("scores", {})
    if score_column in ref_scores:
        psi[score_column] = population_stability_index(ref_scores[score_column], scored[score_column])
    for name, bins in reference.get("features", {}).items():
        if name in features_sample.columns:
            psi[name] = population_stability_index(bins, features_sample[name].to_numpy(dtype=float))
    warnings = [
        f"drift: PSI of {name} is {value:.3f} (over {PSI_WARNING}) against the training data"
        for name, value in psi.items() if value > PSI_WARNING
    ]
    return psi, warnings


def score_header(funnel: list[str]) -> list[str]:
    """The output columns for a model predicting the targets in `funnel` order."""
    return ["lead_id", "current_stage", *[f"p_{t}" for t in funnel], "score", "stage", "reasons",
            "model_name", "model_version", "as_of", "scored_at"]


def finish_scores(scored: pd.DataFrame, funnel: list[str], artifacts, model: tuple[str, str, str],
                  as_of: pd.Timestamp, scored_at: str, feature_sample: pd.DataFrame,
                  warnings: list[str], engine: str = "duckdb") -> tuple[pd.DataFrame, dict, list[str]]:
    """Score, routing and model columns for scored leads (`lead_id`, `current_stage`, the
    `p_<target>` columns already masked, `reasons`), and the drift report.

    `model` is (registered name, model URI, version).
    """
    name, model_uri, version = model
    score_target = funnel[-1]
    last = scored[f"p_{score_target}"]
    scored["score"] = np.where(last.isna(), 100, np.round(100 * last.fillna(0))).astype(int)
    scored["stage"] = _route(scored, funnel, artifacts.thresholds)
    scored["model_name"] = name or model_uri
    scored["model_version"] = version
    scored["as_of"] = as_of.isoformat()
    scored["scored_at"] = scored_at
    scored = scored[score_header(funnel)]
    raw_scores = scored[f"p_{score_target}"].fillna(1.0)
    psi, drift_warnings = _drift_report(scored.assign(**{f"p_{score_target}": raw_scores}),
                                        feature_sample, artifacts.reference, f"p_{score_target}")
    warnings = [*warnings, *drift_warnings]
    report = {
        "leads_scored": int(len(scored)),
        "as_of": as_of.isoformat(),
        "scored_at": scored_at,
        "model_uri": model_uri,
        "model_version": version,
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
    from leadq.tracking.pyfunc import predict_targets

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


def model_mapping(model_ref: str | None, tracking_uri: str | None) -> DataMapping:
    """The data mapping logged with the model's training run, so a new export of the same
    shape is read the same way (the contract names when the run logged none). A missing model
    is `ModelNotFoundError`, before any data is read."""
    from leadq.tracking.logged import logged_mapping
    from leadq.tracking.registry import model_version
    from leadq.tracking.store import resolve_tracking_uri

    tracking_uri = resolve_tracking_uri(tracking_uri)
    model_uri, name, ref = parse_model_ref(model_ref)
    if name:
        run_id = model_version(name, ref, tracking_uri).run_id
    elif model_uri.startswith("runs:/"):
        run_id = model_uri.removeprefix("runs:/").split("/", 1)[0]
    else:
        run_id = None
    return logged_mapping(run_id, tracking_uri) or DataMapping()


def resolve_model(model_ref: str | None, tracking_uri: str | None):
    """The model a reference names, for both engines: (artifacts, resolved tracking URI,
    (name, model_uri, version)). A missing name, alias or version is `ModelNotFoundError`."""
    from leadq.tracking.pyfunc import load_model_artifacts
    from leadq.tracking.registry import model_version, resolve_model_uri
    from leadq.tracking.store import resolve_tracking_uri, use_tracking_uri

    tracking_uri = resolve_tracking_uri(tracking_uri)
    model_uri, name, ref = parse_model_ref(model_ref)
    with use_tracking_uri(tracking_uri):
        resolve_model_uri(model_uri, tracking_uri)
        version = str(model_version(name, ref, tracking_uri).version) if name else ref
        try:
            artifacts = load_model_artifacts(model_uri, tracking_uri)
        except OSError as exc:  # pragma: no cover - a store whose files were removed
            raise ModelNotFoundError(f"model '{model_uri}' cannot be loaded: {exc}") from None
    return artifacts, tracking_uri, (name, model_uri, version)


def predict_leads(
    data: LoadedData,
    model_ref: str | None,
    as_of=None,
    tracking_uri: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[int, int], None] | None = None,
    present_event_columns: set[str] | None = None,
) -> tuple[pd.DataFrame, dict, list[str]]:
    """Score every open lead of `data`; returns (scored table, drift report, warnings)."""
    artifacts, tracking_uri, (name, model_uri, version) = resolve_model(model_ref, tracking_uri)
    pipelines = artifacts.load_pipelines()
    warnings: list[str] = []
    spec = artifacts.spec
    leads_columns = set(data.con.execute("SELECT * FROM leads LIMIT 0").df().columns)
    present = set(OPTIONAL_COLUMN_USERS) if present_event_columns is None else present_event_columns
    check_spec_needs(data, leads_columns, spec, present)
    if as_of is None:
        latest = data.con.execute("SELECT max(ts) FROM events").fetchall()[0][0]
        as_of = to_utc(latest) if latest is not None else data.clock
        warnings += stale_data_warning(as_of, data.clock)
    as_of = to_utc(as_of)
    funnel = _funnel(artifacts.targets)
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
        return (pd.DataFrame(columns=score_header(funnel)), {"leads_scored": 0, "as_of": as_of.isoformat()},
                warnings)
    scored = pd.concat(chunks, ignore_index=True)
    return finish_scores(scored, funnel, artifacts, (name, model_uri, version), as_of, scored_at,
                         pd.concat(samples, ignore_index=True), warnings)


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
) -> PredictionSummary:
    """Read and validate `data_dir`, score every open lead, write `out` and `out.report.json`.

    `mapping` None reads the data with the mapping logged with the model (`model_mapping`).
    When `data_dir` is a file, it is a lead-level table scored with the model's own reading of
    it (`leadq.data.lead_table.predict_lead_table`); `as_of`, `mapping` and `chunk_rows` do not apply.
    """
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise BadInputError(f"{out}: output must end in .csv or .parquet")
    if Path(data_dir).is_file():  # a lead-level table, scored by a model trained on one
        from leadq.data.lead_table import predict_lead_table_to_file

        return predict_lead_table_to_file(data_dir, out, model_ref, tracking_uri)
    if mapping is None:
        mapping = model_mapping(model_ref, tracking_uri)
    data = load_data(data_dir, mapping, clock=clock, require_leads=False)
    present = set(data.event_columns)
    scored, report, warnings = predict_leads(
        data, model_ref, as_of, tracking_uri, chunk_rows, progress, present_event_columns=present,
    )
    report["data_report"] = data.report
    report_path = out.with_name(out.name + ".report.json")
    write_table(scored, out)
    with atomic_path(report_path) as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    last = f"p_{_funnel(list(report.get('thresholds', {})) or [c[2:] for c in scored.columns if c.startswith('p_')])[-1]}"
    candidates = scored[scored[last].notna()] if last in scored.columns else scored
    top = candidates.sort_values([last, "lead_id"], ascending=[False, True]).head(10)
    _, name, _ = parse_model_ref(model_ref)
    return PredictionSummary(
        out=out, report_path=report_path, n_leads=len(scored),
        as_of=to_utc(report["as_of"]), model_name=name, model_version=report.get("model_version", ""),
        stage_shares=report.get("stage_share", {}), warnings=[*data.report, *warnings], top=top,
    )
