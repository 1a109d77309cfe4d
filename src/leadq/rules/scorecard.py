"""Rule scorecards: the hand-made points a marketing team already uses, scored at a cutoff.

A scorecard is YAML (see `pipelines/rules/default.yaml`). Behaviour points: each event of a
listed type in the window before the cutoff earns its points times the decay factor
0.5 ** (age_days / half_life_days); the decayed sum per type is then capped (at +cap for
positive points, at -cap for negative ones). Attribute points: per rule, a lead earns the
points once when its value matches, or `per_unit` points per unit of a numeric value (capped).
Inactivity: points when the lead's last event (or its creation, with no events) is more than
`days` before the cutoff. The total is rounded to a whole number of points; the lead is routed
`SQL` at or above the SQL threshold, `MQL` at or above the MQL threshold, else `nurture`.
"""

import re

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadq.features.engine import to_utc
from leadq.features.sql import US_PER_DAY
from leadq.data.load import LoadedData


class EventPoints(BaseModel):
    """Points per event of one type, with an optional window and cap."""

    model_config = ConfigDict(extra="forbid")

    points: float
    cap: float | None = Field(default=None, gt=0)
    window_days: float | None = Field(default=None, gt=0)


class Band(BaseModel):
    """Points for a numeric value in [min, max)."""

    model_config = ConfigDict(extra="forbid")

    min: float | None = None
    max: float | None = None
    points: float


class AttributeRule(BaseModel):
    """Points for one attribute column; exactly one way of matching."""

    model_config = ConfigDict(extra="forbid")

    column: str
    points: float | None = None
    equals: list[str] | None = None
    contains_any: list[str] | None = None
    above: float | None = None
    below: float | None = None
    per_unit: float | None = None
    cap: float | None = Field(default=None, gt=0)
    bands: list[Band] | None = None

    @model_validator(mode="after")
    def _one_matcher(self) -> "AttributeRule":
        matchers = [m for m in ("equals", "contains_any", "above", "below", "per_unit", "bands")
                    if getattr(self, m) is not None]
        if len(matchers) != 1:
            raise ValueError("give exactly one of equals, contains_any, above, below, per_unit, bands")
        needs_points = matchers[0] in ("equals", "contains_any", "above", "below")
        if needs_points and self.points is None:
            raise ValueError(f"'{matchers[0]}' needs 'points'")
        return self


class Inactivity(BaseModel):
    """Points (usually negative) when there is no activity for `days`."""

    model_config = ConfigDict(extra="forbid")

    days: float = Field(gt=0)
    points: float


class Thresholds(BaseModel):
    """Points at which a lead is passed on as an MQL and as an SQL."""

    model_config = ConfigDict(extra="forbid")

    mql: float
    sql: float

    @model_validator(mode="after")
    def _ordered(self) -> "Thresholds":
        if self.sql < self.mql:
            raise ValueError("the sql threshold must be at or above the mql threshold")
        return self


class Scorecard(BaseModel):
    """A rule scorecard: behaviour points, attribute points, negative points and thresholds."""

    model_config = ConfigDict(extra="forbid")

    name: str = "rules"
    decay_half_life_days: float | None = Field(default=None, gt=0)
    events: dict[str, EventPoints] = Field(default_factory=dict)
    attributes: list[AttributeRule] = Field(default_factory=list)
    inactivity: Inactivity | None = None
    thresholds: Thresholds


def load_scorecard(path) -> Scorecard:
    """Read and validate a scorecard YAML (a bad key is a one-line error naming it)."""
    from leadq.core.yaml_model import load_yaml_model

    return load_yaml_model(path, Scorecard)


def _behaviour_points(data: LoadedData, scorecard: Scorecard, keys: pd.DataFrame) -> np.ndarray:
    """Decayed, windowed, capped event points per row of `keys` (ex_id, lead_id, cutoff)."""
    if not scorecard.events:
        return np.zeros(len(keys))
    con = data.con
    rules = pd.DataFrame([
        {"event_type": name, "points": r.points,
         "window_us": None if r.window_days is None else r.window_days * US_PER_DAY,
         "cap": r.cap}
        for name, r in scorecard.events.items()
    ])
    half_life_us = (scorecard.decay_half_life_days or 0) * US_PER_DAY
    decay = (f"pow(0.5, (x.cut_us - epoch_us(e.ts)) / {half_life_us})" if half_life_us else "1.0")
    con.register("rule_keys", keys)
    con.register("rule_points", rules)
    frame = con.execute(
        f"""
        WITH x AS (SELECT k.ex_id, l.lead_key, epoch_us(k.cutoff) AS cut_us
                   FROM rule_keys k JOIN leads l ON l.lead_id = k.lead_id),
        per_type AS (
          SELECT x.ex_id, r.event_type, any_value(r.cap) AS cap, sum(r.points * {decay}) AS pts
          FROM x JOIN events e ON e.lead_key = x.lead_key AND epoch_us(e.ts) < x.cut_us
          JOIN rule_points r ON r.event_type = e.event_type
          WHERE r.window_us IS NULL OR epoch_us(e.ts) >= x.cut_us - r.window_us
          GROUP BY x.ex_id, r.event_type)
        SELECT ex_id, sum(CASE WHEN cap IS NULL THEN pts
                               WHEN pts > 0 THEN least(pts, cap) ELSE greatest(pts, -cap) END) AS pts
        FROM per_type GROUP BY ex_id
        """
    ).df()
    con.unregister("rule_keys")
    con.unregister("rule_points")
    points = np.zeros(len(keys))
    points[frame["ex_id"].to_numpy(dtype=int)] = frame["pts"].to_numpy(dtype=float)
    return points


def inactivity_points(data: LoadedData, scorecard: Scorecard, keys: pd.DataFrame) -> np.ndarray:
    """Inactivity points (negative) per example: the scorecard's points for a lead with no event in
    the configured number of days before its cutoff."""
    if scorecard.inactivity is None:
        return np.zeros(len(keys))
    con = data.con
    con.register("rule_keys", keys)
    frame = con.execute(
        """
        SELECT k.ex_id, epoch_us(k.cutoff) - coalesce(max(epoch_us(e.ts)), epoch_us(any_value(l.created_at)))
               AS idle_us
        FROM rule_keys k JOIN leads l ON l.lead_id = k.lead_id
        LEFT JOIN events e ON e.lead_key = l.lead_key AND e.ts < k.cutoff
        GROUP BY k.ex_id, k.cutoff
        """
    ).df()
    con.unregister("rule_keys")
    idle_days = np.zeros(len(keys))
    idle_days[frame["ex_id"].to_numpy(dtype=int)] = frame["idle_us"].to_numpy(dtype=float) / US_PER_DAY
    return np.where(idle_days > scorecard.inactivity.days, scorecard.inactivity.points, 0.0)


def attribute_points(attributes: pd.DataFrame, rules: list[AttributeRule]) -> np.ndarray:
    """Attribute points for each row of a table holding the rules' columns (missing: no points)."""
    total = np.zeros(len(attributes))
    for rule in rules:
        if rule.column not in attributes.columns:
            from leadq.core.errors import BadInputError

            raise BadInputError(f"scorecard: attribute rule column '{rule.column}' is not in the data "
                                f"({len(attributes)} rows)")
        values = attributes[rule.column]
        if rule.equals is not None or rule.contains_any is not None:
            text = values.astype("string").str.strip().str.lower()
            if rule.equals is not None:
                hit = text.isin([v.strip().lower() for v in rule.equals])
            else:
                pattern = r"\b(?:" + "|".join(re.escape(w.lower()) for w in rule.contains_any) + r")\b"
                hit = text.str.contains(pattern, regex=True)
            total += np.where(hit.fillna(False).to_numpy(dtype=bool), rule.points, 0.0)
            continue
        number = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        known = ~np.isnan(number)
        if rule.above is not None:
            total += np.where(known & (number > rule.above), rule.points, 0.0)
        elif rule.below is not None:
            total += np.where(known & (number < rule.below), rule.points, 0.0)
        elif rule.per_unit is not None:
            pts = np.where(known, number * rule.per_unit, 0.0)
            if rule.cap is not None:
                pts = np.clip(pts, -rule.cap, rule.cap)
            total += pts
        else:
            for band in rule.bands:
                lo = -np.inf if band.min is None else band.min
                hi = np.inf if band.max is None else band.max
                total += np.where(known & (number >= lo) & (number < hi), band.points, 0.0)
    return total


def route(points: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    """`SQL`, `MQL` or `nurture` for each score by the thresholds."""
    return np.where(points >= thresholds.sql, "SQL", np.where(points >= thresholds.mql, "MQL", "nurture"))


def score_examples(data: LoadedData, scorecard: Scorecard, examples: pd.DataFrame) -> pd.DataFrame:
    """Rule points for each (lead_id, cutoff) row of `examples`, as of that row's cutoff.

    Returns `examples` with `points` (whole points) and `rules_stage` columns added.
    """
    keys = examples[["lead_id", "cutoff"]].reset_index(drop=True).copy()
    keys["lead_id"] = keys["lead_id"].astype(str)
    keys["cutoff"] = pd.to_datetime(keys["cutoff"], utc=True)
    keys.insert(0, "ex_id", np.arange(len(keys)))
    points = _behaviour_points(data, scorecard, keys) + inactivity_points(data, scorecard, keys)
    if scorecard.attributes:
        columns = sorted({r.column for r in scorecard.attributes})
        leads = data.frame("leads")
        missing = [c for c in columns if c not in leads.columns]
        if missing:
            from leadq.core.errors import BadInputError

            raise BadInputError(f"{data.sources['leads']}: column '{missing[0]}' used by the scorecard "
                                f"is missing ({len(leads)} rows)")
        attrs = keys[["lead_id"]].merge(leads[["lead_id", *columns]], on="lead_id", how="left")
        points = points + attribute_points(attrs, scorecard.attributes)
    out = examples.reset_index(drop=True).copy()
    out["points"] = np.round(points).astype(int)
    out["rules_stage"] = route(out["points"].to_numpy(), scorecard.thresholds)
    return out


def score_leads(data: LoadedData, scorecard: Scorecard, as_of) -> pd.DataFrame:
    """Rule points and routing for every open lead as of `as_of` (`lead_id`, `points`, `stage`)."""
    from leadq.features.engine import open_leads

    leads = open_leads(data, to_utc(as_of))
    scored = score_examples(data, scorecard, leads[["lead_id", "cutoff"]])
    return pd.DataFrame({
        "lead_id": scored["lead_id"],
        "points": scored["points"],
        "stage": scored["rules_stage"],
        "as_of": to_utc(as_of).isoformat(),
    })
