"""A CRM-style lead-level export generated from the synthetic funnel, and a pipeline config that
reads it: shared by the lead-table tests of features/ and compare/."""

from pathlib import Path

import numpy as np
import pandas as pd

from leadq.config import parse_config

# Small, quick candidates for tests that train on a lead table.
FAST = {"hist_gradient_boosting": {"max_iter": 40}, "logistic": {"enabled": False},
        "importance_rows": 100}


def lead_table_config(path: Path, extra: dict | None = None, **lead_table) -> object:
    """A pipeline config reading the generated export at `path` (labels in `Won?`)."""
    raw = {
        "lead_table": {"path": str(path), "id_column": "Lead ID", "label_column": "Won?",
                       **lead_table},
        "targets": ["won"],
        "registry": {"model_name": "test-leads", "promotion_metric": "test_log_loss_won"},
        **(extra or {}),
    }
    return parse_config(raw, "test config")


def generated_lead_table(n_leads: int, seed: int) -> pd.DataFrame:
    """Generated histories aggregated per lead: counts per event type, total duration,
    attributes and whether the lead reached SQL, under CRM-export-style column names."""
    from leadq.data import synth

    tables = synth.generate(n_leads=n_leads, seed=seed)
    leads, events, outcomes = tables["leads"], tables["events"], tables["outcomes"]
    counts = events.pivot_table(index="lead_id", columns="event_type", values="ts", aggfunc="count",
                                fill_value=0)
    counts.columns = [f"{c} (count)" for c in counts.columns]
    duration = events.groupby("lead_id")["duration_s"].sum().rename("Time on site / s")
    table = leads.drop(columns=["created_at"]).set_index("lead_id").join(counts).join(duration)
    table = table.fillna({c: 0 for c in counts.columns})
    reached = set(outcomes.loc[outcomes["stage"] == "sql", "lead_id"])
    table["Won?"] = np.where(table.index.isin(reached), "Yes", "No")
    table = table.rename(columns={"job_title": "Job Title", "source": "Lead Source"})
    return table.reset_index().rename(columns={"lead_id": "Lead ID"})
