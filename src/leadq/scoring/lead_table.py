"""Scoring a lead-level table (a CRM export, one row per lead) with a model trained on one: the
new export is read exactly as the model's logged reading says."""

from pathlib import Path

import numpy as np
import pandas as pd

from leadq.core.errors import BadInputError
from leadq.features.lead_table import read_for_scoring
from leadq.models.drift import drift_report
from leadq.models.reasons import top_reasons
from leadq.tracking.model_ref import ModelRef, load_artifacts, logged_lead_table_doc
from leadq.tracking.pyfunc import predict_targets

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
    table = read_for_scoring(path, doc)
    columns = artifacts.spec.feature_columns()
    target = artifacts.targets[-1]
    scored_at = pd.Timestamp.now(tz="UTC").isoformat()
    pipelines = {target: artifacts.load_pipelines()[target]}
    p, reasons = np.empty(len(table.features)), []
    # One pass over the model per chunk gives the scores (the code the pyfunc runs) and the
    # reasons' contributions together, in memory bounded by the chunk.
    for start in range(0, len(table.features), CHUNK_ROWS):
        chunk = table.features.iloc[start:start + CHUNK_ROWS]
        probabilities, credits = predict_targets(pipelines, chunk, columns, artifacts.spec.categorical_columns(),
                                                 explain=target)
        rows = slice(start, start + len(chunk))
        p[rows] = probabilities[f"p_{target}"].to_numpy(dtype=float)
        contributions = pd.DataFrame(credits, columns=columns, index=chunk.index)
        reasons.append(top_reasons(contributions, chunk[columns]).reset_index(drop=True))
    scored = pd.DataFrame({
        "lead_id": table.ids.to_numpy(),
        f"p_{target}": p,
        "score": np.round(100 * p).astype(int),
        "stage": np.where(p >= artifacts.thresholds[target], target.upper(), "nurture"),
        "reasons": (pd.concat(reasons, ignore_index=True) if reasons else pd.Series([], dtype=object)).array,
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
