"""Routing scored leads to a stage: funnel order, and the stage each lead is passed to."""

import numpy as np
import pandas as pd

from leadq.data.contract import STAGE_ORDER


def funnel_order(targets: list[str]) -> list[str]:
    """Targets in funnel order (unknown stages keep their listed order, after known ones)."""
    known = [s for s in STAGE_ORDER if s in targets]
    return known + [t for t in targets if t not in known]


def route_stages(frame: pd.DataFrame, funnel: list[str], thresholds: dict[str, float]) -> np.ndarray:
    """`SQL` when the lead reached the stage or its `p_sql` is at or above the threshold, else the
    earlier stages likewise, else `nurture` (later stages in `funnel` take precedence)."""
    rank = {s: i for i, s in enumerate(["lead", *STAGE_ORDER])}
    current = frame["current_stage"].map(rank).fillna(0).to_numpy()
    stage = np.full(len(frame), "nurture", dtype=object)
    for target in funnel:  # later stages overwrite earlier ones
        reached = current >= rank.get(target, len(rank))
        passes = frame[f"p_{target}"].to_numpy(dtype=float) >= thresholds[target]
        stage = np.where(reached | passes, target.upper(), stage)
    return stage
