"""Lead-level tables: a CRM export with one row per lead and a label column, and no events.

A pipeline config with a `lead_table` section (see `leadq.config.LeadTableConfig`) names the
file, its id column, its label column, an optional timestamp column, the columns never to use
(ids, fields the sales team fills in after the outcome) and the cell values that mean "missing"
(a drop-down left at `Select`, `N/A`, empty). Reading follows the bad-input policy:

- fatal, one line naming the file, the column and the count: a missing id or label column,
  duplicate ids, a label column that is constant or has more than `max_bad_fraction` of its
  values missing or unparseable (labels are 0/1, yes/no or true/false in any case);
- reported and dropped: a few rows with a missing id or an unparseable label.

Every other column is a feature under its own name (spaces and punctuation included): numeric
when 99 % of its filled values parse as numbers (infinities count as missing), else categorical
(normalised and pooled by the candidate pipelines), unless `column_types` says otherwise; plus,
with `count_missing`, the number of missing fields per lead (`missing_fields`).

Library entry points (plain functions over a config and a path):

- `load_lead_table(config, path=None) -> LeadTable`: features, labels, ids and the FeatureSpec;
  this is what `leadq compare` and notebooks call to get a lead table's rows;
- `train_lead_table(config, path=None, ...) -> TrainingOutcome`: the `leadq train` step;
- `predict_lead_table(path, model_ref, ...)` and `predict_lead_table_to_file(...)`: `leadq predict`;
- `score_lead_table_rules(config, path, scorecard)`: `leadq rules score` on a lead table;
- `cv_folds(y, n_folds, seed)` and `out_of_fold_probabilities(table, config, chosen)`: the
  training folds and a run's calibrated out-of-fold probabilities, rebuilt (`leadq compare`).
"""

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadq.config import LeadTableConfig, PipelineConfig
from leadq.core.errors import BadInputError
from leadq.features.spec import FeatureSpec

NUMERIC_SHARE_FOR_NUMBER = 0.99
MISSING_COUNT_COLUMN = "missing_fields"
TRUE_LABELS = frozenset({"1", "1.0", "yes", "y", "true", "t"})
FALSE_LABELS = frozenset({"0", "0.0", "no", "n", "false", "f"})
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class LeadTable:
    """A lead-level table read for modelling.

    `features` holds `spec.feature_columns()` (numerics as float, categoricals as strings or
    None), one row per lead in file order; `y` the 0/1 labels (None when scoring a table
    without its label column); `ids` the lead ids as strings; `raw` the cells as read, with
    missing values as None (what rule scorecards see); `doc` how the table was read (logged
    with a model, so scoring reads a new export the same way).
    """

    features: pd.DataFrame
    y: np.ndarray | None
    spec: FeatureSpec
    ids: pd.Series
    raw: pd.DataFrame
    source: str
    target: str
    doc: dict[str, Any]
    timestamps: pd.Series | None = None
    report: list[str] = field(default_factory=list)

    def examples(self) -> pd.DataFrame:
        """`lead_id`, the features, `label_<target>` (and `cutoff` when timestamped): the shape
        `leadq.models.train` trains on."""
        frame = self.features.copy()
        frame.insert(0, "lead_id", self.ids.to_numpy())
        if self.timestamps is not None:
            frame.insert(1, "cutoff", self.timestamps.to_numpy())
        if self.y is not None:
            frame[f"label_{self.target}"] = self.y.astype(float)
        return frame


def expand_path(text: str) -> str:
    """`${VAR}` and `${VAR:-default}` replaced from the environment (unset, no default: empty)."""
    def replace(match: re.Match) -> str:
        value = os.environ.get(match.group(1))
        return value if value else (match.group(2) or "")

    return os.path.expanduser(_ENV_PATTERN.sub(replace, text))


def resolve_path(config: PipelineConfig, path: str | Path | None = None) -> Path:
    """The table's file: `path` (the `--data` flag), else the config's `lead_table.path`."""
    table = _section(config)
    if path is not None:
        return Path(path)
    if not table.path:
        raise BadInputError("config: 'lead_table.path' is empty and no --data FILE was given")
    return Path(expand_path(table.path))


def _section(config: PipelineConfig) -> LeadTableConfig:
    if config.lead_table is None:
        raise BadInputError("config: no 'lead_table' section (id_column, label_column) for a lead-level "
                            "table; pass --config with one (see pipelines/xeducation.yaml)")
    return config.lead_table


def read_raw(path: Path, missing_values: list[str]) -> pd.DataFrame:
    """The file's cells as strings (Parquet values keep their type), missing values as None."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: lead table not found (0 rows)")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".txt"):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding_errors="replace")
        else:
            raise BadInputError(f"{path}: a lead table must be .csv or .parquet")
    except BadInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is the user's file
        raise BadInputError(f"{path}: cannot be read ({str(exc).splitlines()[0]})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.columns.duplicated().any():
        name = frame.columns[frame.columns.duplicated()][0]
        raise BadInputError(f"{path}: column '{name}' appears twice in the header ({len(frame)} rows)")
    placeholders = {str(v).strip().lower() for v in missing_values}
    out = {}
    for name in frame.columns:
        values = frame[name]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            text = values.astype(object).where(values.notna(), None)
            stripped = text.map(lambda v: v.strip() if isinstance(v, str) else v)
            is_missing = stripped.map(lambda v: v is None or (isinstance(v, str) and v.lower() in placeholders))
            out[name] = stripped.where(~is_missing.astype(bool), None)
        else:
            out[name] = values
    return pd.DataFrame(out, index=frame.index)


def parse_labels(values: pd.Series) -> np.ndarray:
    """0/1, yes/no, true/false (any case) as 1.0/0.0; anything else NaN."""
    text = values.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v))
                      else str(v).strip().lower())
    return np.where(text.isin(TRUE_LABELS), 1.0, np.where(text.isin(FALSE_LABELS), 0.0, np.nan))


def _require(frame: pd.DataFrame, column: str, source: str, role: str) -> None:
    if column not in frame.columns:
        raise BadInputError(f"{source}: {role} column '{column}' is missing in all {len(frame)} rows")


def _labels(frame: pd.DataFrame, table: LeadTableConfig, source: str, report: list[str]) -> np.ndarray:
    column = table.label_column
    y = parse_labels(frame[column])
    n_rows, n_bad = len(y), int(np.isnan(y).sum())
    if n_rows == 0:
        raise BadInputError(f"{source}: column '{column}': the table has no rows (0 rows)")
    if n_bad / n_rows > table.max_bad_fraction:
        examples = ", ".join(repr(v) for v in frame.loc[np.isnan(y), column].dropna().astype(str).unique()[:3])
        seen = f" (e.g. {examples})" if examples else ""
        raise BadInputError(
            f"{source}: column '{column}' has {n_bad} of {n_rows} labels missing or unparseable{seen} "
            f"({n_bad / n_rows:.1%}, limit {table.max_bad_fraction:.1%}); labels must be 0/1, "
            "yes/no or true/false"
        )
    if n_bad:
        report.append(f"{source}: dropped {n_bad} rows with a missing or unparseable '{column}'")
    known = y[~np.isnan(y)]
    if known.min() == known.max():
        raise BadInputError(
            f"{source}: column '{column}' is constant: all {len(known)} labels are {int(known[0])}; "
            "a model needs both outcomes"
        )
    return y


def _ids(frame: pd.DataFrame, column: str, source: str, max_bad: float, report: list[str]) -> pd.Series:
    ids = frame[column].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())
    ids = ids.where(ids != "", None)
    n_bad = int(ids.isna().sum())
    if n_bad and n_bad / max(len(ids), 1) > max_bad:
        raise BadInputError(f"{source}: column '{column}' has {n_bad} of {len(ids)} ids missing "
                            f"({n_bad / len(ids):.1%}, limit {max_bad:.1%})")
    if n_bad:
        report.append(f"{source}: dropped {n_bad} rows with a missing '{column}'")
    duplicated = ids.notna() & ids.duplicated(keep=False)
    if duplicated.any():
        n_ids = ids[duplicated].nunique()
        raise BadInputError(f"{source}: column '{column}' has {n_ids} duplicate lead ids "
                            f"({int(duplicated.sum())} rows share an id)")
    return ids


def _is_numeric(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_numeric_dtype(values):
        return True
    filled = values.dropna()
    if filled.empty:
        return False
    parsed = pd.to_numeric(filled.astype(str), errors="coerce")
    return parsed.notna().sum() / len(filled) >= NUMERIC_SHARE_FOR_NUMBER


def _to_number(values: pd.Series) -> pd.Series:
    number = pd.to_numeric(values.map(lambda v: None if v is None else (str(v) if not isinstance(v, (int, float)) else v)),
                           errors="coerce").astype("float64")
    return number.where(np.isfinite(number))


def _to_category(values: pd.Series) -> pd.Series:
    text = values.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    return text.astype(object).where(text.notna(), None)


def infer_columns(frame: pd.DataFrame, table: LeadTableConfig, source: str,
                  report: list[str]) -> tuple[list[str], list[str]]:
    """(numeric, categorical) feature columns: all but the id, label, timestamp and excluded ones."""
    unknown = [c for c in table.column_types if c not in frame.columns]
    if unknown:
        raise BadInputError(f"{source}: column '{unknown[0]}' named in lead_table.column_types is missing "
                            f"in all {len(frame)} rows")
    absent = [c for c in table.exclude_columns if c not in frame.columns]
    if absent:
        report.append(f"{source}: excluded column(s) not in the file: {', '.join(absent)}")
    reserved = {table.id_column, table.label_column, table.timestamp_column, *table.exclude_columns}
    numeric, categorical = [], []
    for name in frame.columns:
        if name in reserved:
            continue
        kind = table.column_types.get(name) or ("numeric" if _is_numeric(frame[name]) else "categorical")
        (numeric if kind == "numeric" else categorical).append(name)
    if not numeric and not categorical:
        raise BadInputError(f"{source}: no feature columns left after excluding id, label and "
                            f"exclude_columns ({len(frame)} rows)")
    return numeric, categorical


def build_features(frame: pd.DataFrame, doc: dict[str, Any], source: str) -> pd.DataFrame:
    """The feature table for `frame` (cells as read) as `doc` describes it; a needed column that
    is absent is a one-line error."""
    numeric, categorical = doc["numeric_columns"], doc["categorical_columns"]
    absent = [c for c in [*numeric, *categorical] if c not in frame.columns]
    if absent:
        raise BadInputError(f"{source}: column '{absent[0]}' is needed by the model but missing in "
                            f"all {len(frame)} rows" + (f" ({len(absent)} such columns)" if len(absent) > 1 else ""))
    out = {name: _to_number(frame[name]) for name in numeric}
    out.update({name: _to_category(frame[name]) for name in categorical})
    features = pd.DataFrame(out, index=frame.index)
    counter = doc.get("missing_count_column")
    if counter:
        features[counter] = features[[*numeric, *categorical]].isna().sum(axis=1).astype("float64")
    return features[doc["feature_columns"]]


def spec_from_doc(doc: dict[str, Any]) -> FeatureSpec:
    """The FeatureSpec of a lead table: its columns as attributes, no engagement features."""
    counter = doc.get("missing_count_column")
    return FeatureSpec(
        include_engagement=False,
        numeric_attributes=[*doc["numeric_columns"], *([counter] if counter else [])],
        categorical_attributes=list(doc["categorical_columns"]),
        exclude_features=["lead_age_days"],
    )


def file_sha256(path: Path) -> str:
    """Content hash of a file (the fingerprint of a lead table)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_lead_table(config: PipelineConfig, path: str | Path | None = None) -> LeadTable:
    """Read, validate and type the lead table of `config` (or the file at `path`) for training.

    Returns a `LeadTable` with `features` (the spec's columns), `y` (0/1), `ids`, `spec` and the
    `doc` to log with a model. The target is `config.targets[0]`.
    """
    table = _section(config)
    file = resolve_path(config, path)
    source = str(file)
    raw = read_raw(file, table.missing_values)
    report: list[str] = []
    _require(raw, table.id_column, source, "id")
    _require(raw, table.label_column, source, "label")
    if table.timestamp_column:
        _require(raw, table.timestamp_column, source, "timestamp")
    y = _labels(raw, table, source, report)
    ids = _ids(raw, table.id_column, source, table.max_bad_fraction, report)
    keep = ~np.isnan(y) & ids.notna().to_numpy()
    timestamps = None
    if table.timestamp_column:
        parsed = pd.to_datetime(raw[table.timestamp_column], errors="coerce", utc=True)
        n_bad = int(parsed.isna().sum())
        if n_bad / len(parsed) > table.max_bad_fraction:
            raise BadInputError(f"{source}: column '{table.timestamp_column}' has {n_bad} of {len(parsed)} "
                                f"timestamps missing or unparseable (limit {table.max_bad_fraction:.1%})")
        if n_bad:
            report.append(f"{source}: dropped {n_bad} rows with a missing or unparseable "
                          f"'{table.timestamp_column}'")
        keep &= parsed.notna().to_numpy()
        timestamps = parsed[keep].reset_index(drop=True)
    raw = raw[keep].reset_index(drop=True)
    numeric, categorical = infer_columns(raw, table, source, report)
    counter = None
    if table.count_missing:
        counter = MISSING_COUNT_COLUMN
        while counter in raw.columns:
            counter = f"{counter}_"
    doc = {
        "source": source,
        "sha256": file_sha256(file),
        "id_column": table.id_column,
        "label_column": table.label_column,
        "timestamp_column": table.timestamp_column,
        "missing_values": list(table.missing_values),
        "numeric_columns": numeric,
        "categorical_columns": categorical,
        "missing_count_column": counter,
        "target": config.targets[0],
        "rows": int(len(raw)),
    }
    spec = spec_from_doc(doc)
    doc["feature_columns"] = spec.feature_columns()
    features = build_features(raw, doc, source)
    return LeadTable(
        features=features, y=y[keep].astype(float), spec=spec, ids=ids[keep].reset_index(drop=True),
        raw=raw, source=source, target=config.targets[0], doc=doc, timestamps=timestamps,
        report=report,
    )


def read_for_scoring(path: str | Path, doc: dict[str, Any]) -> LeadTable:
    """Read a new export as the model's `doc` says: every lead with an id, label not needed."""
    file = Path(path)
    source = str(file)
    raw = read_raw(file, doc.get("missing_values", []))
    report: list[str] = []
    _require(raw, doc["id_column"], source, "id")
    ids = _ids(raw, doc["id_column"], source, 1.0, report)
    keep = ids.notna().to_numpy()
    raw = raw[keep].reset_index(drop=True)
    features = build_features(raw, doc, source)
    return LeadTable(
        features=features, y=None, spec=spec_from_doc(doc), ids=ids[keep].reset_index(drop=True),
        raw=raw, source=source, target=doc["target"], doc=doc, report=report,
    )


def train_lead_table(
    config: PipelineConfig,
    path: str | Path | None = None,
    tracking_uri: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
):
    """The `leadq train` step for a lead table: audit, cross-validate (or split by time when the
    config names a timestamp column), fit on all rows, log to MLflow, register and gate.

    Returns a `leadq.models.train.TrainingOutcome`; its `result.extra_metrics` holds the CV figures
    (`cv_roc_auc_mean`, `cv_roc_auc_std`, `cv_brier_mean`, ..., and the same with `baseline_`
    for the plain HistGradientBoosting baseline on the same folds).
    """
    from leadq.models.train import (
        TrainingOutcome,
        log_training,
        register_and_gate,
        train_cross_validated,
        train_models,
    )
    from leadq.tracking.store import resolve_tracking_uri

    table = load_lead_table(config, path)
    examples = table.examples()
    if table.timestamps is not None:
        result = train_models(examples, table.spec, config, progress=progress)
    else:
        result = train_cross_validated(examples, table.spec, config, config.lead_table.cv_folds,
                                       progress=progress, source=table.source)
    result.lead_table = table.doc
    uri = resolve_tracking_uri(tracking_uri, config.tracking_uri)
    fingerprint = {"lead_table": {k: table.doc[k] for k in ("source", "sha256", "rows")},
                   "positives": int(table.y.sum())}
    run_id, model_uri, experiment_id = log_training(result, config, uri, fingerprint=fingerprint,
                                                    data_report=table.report)
    version, decision = register_and_gate(result, config, run_id, model_uri, uri)
    return TrainingOutcome(
        result=result, run_id=run_id, model_uri=model_uri, version=version, decision=decision,
        tracking_uri=uri, experiment_id=experiment_id, spec=table.spec, data_report=table.report,
    )


def model_lead_table_doc(model_ref: str | None, tracking_uri: str) -> dict[str, Any] | None:
    """The lead-table doc logged with the run of a registered model (None: not a lead-table model)."""
    import json

    import mlflow

    from leadq.scoring.predict import parse_model_ref
    from leadq.tracking.registry import model_version
    from leadq.models.train import LEAD_TABLE_FILE
    from leadq.tracking.store import use_tracking_uri

    model_uri, name, ref = parse_model_ref(model_ref)
    if name:
        run_id = model_version(name, ref, tracking_uri).run_id
    elif model_uri.startswith("runs:/"):
        run_id = model_uri.removeprefix("runs:/").split("/", 1)[0]
    else:
        return None
    if not run_id:
        return None
    with use_tracking_uri(tracking_uri):
        try:
            local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=LEAD_TABLE_FILE)
        except Exception:  # noqa: BLE001 - absent artifact: a three-table model
            return None
    return json.loads(Path(local).read_text())


def predict_lead_table(
    path: str | Path,
    model_ref: str | None = None,
    tracking_uri: str | None = None,
) -> tuple[pd.DataFrame, dict, list[str]]:
    """Score every lead of a lead-level table with a model trained on such a table.

    Returns (scored table, report, warnings). Columns: `lead_id`, `p_<target>`, `score`
    (round(100 p)), `stage` (the target in upper case at or above the model's threshold, else
    `nurture`), `reasons` (in the export's own column names), `model_name`, `model_version`,
    `scored_at`.
    """
    import mlflow

    from leadq.core.errors import ModelNotFoundError
    from leadq.scoring.predict import _drift_report, parse_model_ref
    from leadq.tracking.pyfunc import load_model_artifacts
    from leadq.models.reasons import feature_contributions, top_reasons
    from leadq.tracking.registry import model_version, resolve_model_uri
    from leadq.tracking.store import resolve_tracking_uri, use_tracking_uri

    tracking_uri = resolve_tracking_uri(tracking_uri)
    model_uri, name, ref = parse_model_ref(model_ref)
    with use_tracking_uri(tracking_uri):
        resolve_model_uri(model_uri, tracking_uri)
        doc = model_lead_table_doc(model_ref, tracking_uri)
        if doc is None:
            raise BadInputError(f"{path}: is a single file, but model '{model_uri}' was trained on the "
                                "three tables: give --data the folder with leads, events and outcomes")
        version = str(model_version(name, ref, tracking_uri).version) if name else ref
        try:
            artifacts = load_model_artifacts(model_uri, tracking_uri)
            pyfunc = mlflow.pyfunc.load_model(model_uri)
        except OSError as exc:  # pragma: no cover - a store whose files were removed
            raise ModelNotFoundError(f"model '{model_uri}' cannot be loaded: {exc}") from None
    table = read_for_scoring(path, doc)
    columns = artifacts.spec.feature_columns()
    target = artifacts.targets[-1]
    scored_at = pd.Timestamp.now(tz="UTC").isoformat()
    p = pyfunc.predict(table.features[columns])[f"p_{target}"].to_numpy(dtype=float)
    pipelines = artifacts.load_pipelines()
    contributions = feature_contributions(pipelines[target], table.features, columns)
    scored = pd.DataFrame({
        "lead_id": table.ids.to_numpy(),
        f"p_{target}": p,
        "score": np.round(100 * p).astype(int),
        "stage": np.where(p >= artifacts.thresholds[target], target.upper(), "nurture"),
        "reasons": top_reasons(contributions, table.features[columns]).to_numpy(),
        "model_name": name or model_uri,
        "model_version": version,
        "scored_at": scored_at,
    })
    psi, warnings = _drift_report(scored, table.features, artifacts.reference, f"p_{target}")
    report = {
        "leads_scored": int(len(scored)),
        "scored_at": scored_at,
        "model_uri": model_uri,
        "model_version": version,
        "stage_share": {s: float(v) for s, v in scored["stage"].value_counts(normalize=True).items()},
        "psi": psi,
        "warnings": warnings,
        "data_report": table.report,
    }
    return scored, report, [*table.report, *warnings]


def predict_lead_table_to_file(path: str | Path, out: str | Path, model_ref: str | None = None,
                               tracking_uri: str | None = None):
    """`predict_lead_table`, written to `out` (.csv or .parquet) and `out.report.json` atomically;
    returns a `leadq.scoring.predict.PredictionSummary`."""
    import json

    from leadq.core.files import write_table_with_report
    from leadq.scoring.predict import PredictionSummary, parse_model_ref

    out = Path(out)
    scored, report, warnings = predict_lead_table(path, model_ref, tracking_uri)
    report_path = out.with_name(out.name + ".report.json")
    write_table_with_report(scored, out, json.dumps(report, indent=2, default=float), report_path)
    p_col = next(c for c in scored.columns if c.startswith("p_"))
    _, name, _ = parse_model_ref(model_ref)
    return PredictionSummary(
        out=out, report_path=report_path, n_leads=len(scored), as_of=pd.Timestamp(report["scored_at"]),
        model_name=name, model_version=report["model_version"], stage_shares=report["stage_share"],
        warnings=warnings, top=scored.sort_values([p_col, "lead_id"], ascending=[False, True]).head(10),
    )


def score_lead_table_rules(config: PipelineConfig, path: str | Path | None, scorecard) -> pd.DataFrame:
    """Attribute points of a rule scorecard for every lead of a lead table (`lead_id`, `points`,
    `stage`). Event rules need events, which a lead table has none of: they add nothing."""
    from leadq.rules.scorecard import attribute_points, route

    table_config = _section(config)
    file = resolve_path(config, path)
    source = str(file)
    raw = read_raw(file, table_config.missing_values)
    _require(raw, table_config.id_column, source, "id")
    ids = _ids(raw, table_config.id_column, source, 1.0, [])
    raw = raw[ids.notna().to_numpy()].reset_index(drop=True)
    missing = [r.column for r in scorecard.attributes if r.column not in raw.columns]
    if missing:
        raise BadInputError(f"{source}: column '{missing[0]}' used by the scorecard is missing in all "
                            f"{len(raw)} rows")
    points = np.round(attribute_points(raw, scorecard.attributes)).astype(int)
    return pd.DataFrame({
        "lead_id": ids.dropna().to_numpy(),
        "points": points,
        "stage": route(points, scorecard.thresholds),
    })


def cv_folds(y: np.ndarray, n_folds: int, seed: int) -> list:
    """The fixed seeded stratified folds `leadq.models.train.train_cross_validated` splits a lead table
    into: (fit rows, scored rows) pairs, the same for every run on the same table and config."""
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
                .split(np.zeros(len(y)), y))


def out_of_fold_probabilities(table: LeadTable, config: PipelineConfig, chosen: str,
                              progress: Callable[[str, int, int], None] | None = None
                              ) -> tuple[np.ndarray, np.ndarray]:
    """The calibrated out-of-fold probabilities training measured a lead-table model on, rebuilt.

    Candidate `chosen` (the run's `chosen.<target>` param) is refitted on each training fold
    of `cv_folds` (`config.lead_table.cv_folds`, `config.seed`) and scored on the fold left out
    (`leadq.models.train._decision_scores`), then calibrated across folds with
    `leadq.models.train.cross_calibrate`, exactly as `train_cross_validated` does. Same table and config
    give the probabilities behind the run's `test_*` metrics. Returns (p, fold index per row).
    """
    from sklearn.base import clone
    from threadpoolctl import threadpool_limits

    from leadq.models.candidates import build_candidates
    from leadq.models.train import _decision_scores, cross_calibrate

    if table.y is None:
        raise BadInputError(f"{table.source}: out-of-fold predictions need the label column")
    candidates = build_candidates(table.spec, config.candidates, config.seed)
    if chosen not in candidates:
        raise BadInputError(f"candidate '{chosen}' the model was trained with is not enabled in the "
                            f"config (enabled: {', '.join(candidates) or 'none'})")
    y = table.y.astype(float)
    n_folds = _section(config).cv_folds
    folds = cv_folds(y, n_folds, config.seed)
    X = table.features[table.spec.feature_columns()]
    scores = np.empty(len(y))
    fold_of = np.empty(len(y), dtype=int)
    with threadpool_limits(limits=config.candidates.threads, user_api="openmp"):
        for k, (fit_rows, score_rows) in enumerate(folds):
            if progress is not None:
                progress(f"{table.target}: refitting {chosen}, fold {k + 1} of {n_folds}", k, n_folds)
            model = clone(candidates[chosen]).fit(X.iloc[fit_rows], y[fit_rows])
            scores[score_rows] = _decision_scores(model, X.iloc[score_rows])
            fold_of[score_rows] = k
    return cross_calibrate(scores, y, folds, config.candidates.calibration), fold_of
