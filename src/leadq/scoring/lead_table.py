"""Scoring a lead-level table (a CRM export, one row per lead) with a model trained on one: the
new export is read exactly as the model's logged reading says."""

from pathlib import Path

import numpy as np
import pandas as pd

from leadq.core.errors import BadInputError
from leadq.features.lead_table import read_for_scoring
from leadq.models.drift import drift_report
from leadq.models.reasons import feature_contributions, top_reasons
from leadq.tracking.model_ref import ModelRef, load_artifacts, load_pyfunc, logged_lead_table_doc


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
    pyfunc = load_pyfunc(model)
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
        "model_name": model.name or model.uri,
        "model_version": model.version,
        "scored_at": scored_at,
    })
    psi, warnings = drift_report(scored, table.features, artifacts.reference, f"p_{target}")
    report = {
        "leads_scored": int(len(scored)),
        "scored_at": scored_at,
        "model_uri": model.uri,
        "model_version": model.version,
        "stage_share": {s: float(v) for s, v in scored["stage"].value_counts(normalize=True).items()},
        "psi": psi,
        "warnings": warnings,
        "data_report": table.report,
    }
    return scored, report, [*table.report, *warnings]
