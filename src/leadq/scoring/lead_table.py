"""Scoring a lead-level table (a CRM export, one row per lead) with a model trained on one: the
new export is read exactly as the model's logged reading says."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from leadq.core.errors import BadInputError
from leadq.data.lead_reader import ReadAgain
from leadq.features.lead_table import LeadTable, ScoringRead, open_for_scoring
from leadq.models.drift import drift_report
from leadq.models.reasons import top_reasons
from leadq.tracking.model_ref import ModelRef, load_artifacts, logged_lead_table_doc
from leadq.tracking.pyfunc import ModelArtifacts, predict_targets

CHUNK_ROWS = 100_000


def predict_lead_table(path: str | Path, model: ModelRef) -> tuple[pd.DataFrame, dict, list[str]]:
    """Score every lead of a lead-level table with a model trained on such a table.

    Returns (scored table, report, warnings). Columns: `lead_id`, `p_<target>`, `score`
    (round(100 p)), `stage` (the target in upper case at or above the model's threshold, else
    `nurture`), `reasons` (in the export's own column names), `model_name`, `model_version`,
    `scored_at`.
    """
    doc = logged_lead_table_doc(model)
    if doc is None:
        raise BadInputError(f"{path}: is a single file, but model '{model.uri}' was trained on the "
                            "three tables: give --data the folder with leads, events and outcomes")
    artifacts = load_artifacts(model)
    reading = open_for_scoring(path, doc)
    scored_at = pd.Timestamp.now(tz="UTC").isoformat()
    try:
        parts, drift_features = _score_batches(reading, artifacts)
    except ReadAgain:  # not UTF-8 after all: the reading switched to Latin-1, start over
        parts, drift_features = _score_batches(reading, artifacts)
    target = artifacts.targets[-1]
    scored = pd.concat(parts, ignore_index=True).assign(
        model_name=model.name or model.uri, model_version=model.version, scored_at=scored_at)
    psi, warnings = drift_report(scored, drift_features, artifacts.reference, f"p_{target}")
    report = {
        "leads_scored": int(len(scored)),
        "scored_at": scored_at,
        "model_uri": model.uri,
        "model_version": model.version,
        "stage_share": {s: float(v) for s, v in scored["stage"].value_counts(normalize=True).items()},
        "psi": psi,
        "warnings": warnings,
        "data_report": reading.report,
    }
    return scored, report, [*reading.report, *warnings]


def _score_batches(reading: ScoringRead, artifacts: ModelArtifacts) -> tuple[list[pd.DataFrame], pd.DataFrame]:
    """Scored parts of the export in file order, and the features the drift report compares.

    A thread reads and types the next batch (DuckDB and Arrow, mostly outside the GIL) while
    this one scores the current one: the two cores share the work, and memory holds two
    batches of features, not the file."""
    target = artifacts.targets[-1]
    pipelines = {target: artifacts.load_pipelines()[target]}
    drift_columns = [c for c in artifacts.reference.get("features", {}) if c in artifacts.spec.feature_columns()]
    parts, drift_parts = [], []
    batches = reading.batches(CHUNK_ROWS)
    with ThreadPoolExecutor(max_workers=1) as reader:
        upcoming = reader.submit(next, batches, None)
        while (table := upcoming.result()) is not None:
            upcoming = reader.submit(next, batches, None)
            parts.append(_score_table(table, artifacts, pipelines))
            drift_parts.append(table.features[drift_columns])
    return parts, pd.concat(drift_parts, ignore_index=True)


def _score_table(table: LeadTable, artifacts: ModelArtifacts, pipelines: dict) -> pd.DataFrame:
    """`lead_id`, `p_<target>`, `score`, `stage` and `reasons` of one batch of leads: one pass
    over the model gives the scores (the code the pyfunc runs) and the reasons' contributions."""
    target = artifacts.targets[-1]
    columns = artifacts.spec.feature_columns()
    probabilities, credits = predict_targets(pipelines, table.features, columns, artifacts.spec.categorical_columns(),
                                             explain=target)
    p = probabilities[f"p_{target}"].to_numpy(dtype=float)
    contributions = pd.DataFrame(credits, columns=columns, index=table.features.index)
    return pd.DataFrame({
        "lead_id": table.ids.to_numpy(),
        f"p_{target}": p,
        "score": np.round(100 * p).astype(int),
        "stage": np.where(p >= artifacts.thresholds[target], target.upper(), "nurture"),
        "reasons": top_reasons(contributions, table.features[columns]).array,
    })
