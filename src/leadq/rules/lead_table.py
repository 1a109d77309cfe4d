"""A rule scorecard on a lead-level table: attribute points per lead (event rules need events,
which a lead table has none of, so they add nothing)."""

from pathlib import Path

import numpy as np
import pandas as pd

from leadq.features.lead_table import read_ids_and_cells
from leadq.rules.scorecard import Scorecard, attribute_points, route


def score_lead_table_rules(config, path: str | Path | None, scorecard: Scorecard) -> pd.DataFrame:
    """`lead_id`, `points` and `stage` for every lead of the lead table of `config` (or the
    file at `path`); a scorecard column missing from the table is a one-line error."""
    ids, cells = read_ids_and_cells(config, path, [r.column for r in scorecard.attributes])
    points = np.round(attribute_points(cells, scorecard.attributes)).astype(int)
    return pd.DataFrame({
        "lead_id": ids.to_numpy(),
        "points": points,
        "stage": route(points, scorecard.thresholds),
    })
