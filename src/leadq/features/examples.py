"""Training examples: (lead, cutoff) snapshots with point-in-time features and horizon labels."""

import pandas as pd

from leadq.data.contract import STAGE_ORDER
from leadq.core.errors import BadInputError
from leadq.features.spec import FeatureSpec
from leadq.features.engine import build_feature_table, to_utc
from leadq.data.bound import quote_identifier
from leadq.data.load import LoadedData

MASS_QUANTILE = 0.01


def infer_attribute_spec(data: LoadedData, spec: FeatureSpec) -> FeatureSpec:
    """The spec with the leads table's attribute columns filled in, unless it already lists some.

    Numeric attributes are those whose values all parse as numbers; the rest are categorical.
    Columns named in `spec.exclude_features` are left out.
    """
    if spec.numeric_attributes or spec.categorical_attributes:
        return spec
    excluded = set(spec.exclude_features)
    return spec.model_copy(update={
        "numeric_attributes": [c for c in data.numeric_attributes if c not in excluded],
        "categorical_attributes": [c for c in data.categorical_attributes if c not in excluded],
    })


def snapshot_cutoffs(
    data: LoadedData,
    cadence_days: int,
    horizon_days: int,
    start=None,
    end=None,
) -> list[pd.Timestamp]:
    """Cutoffs at UTC midnight every `cadence_days`, latest first fitting its horizon in the history.

    The last cutoff is the latest midnight `t` with `t + horizon_days` at or before the end of the
    history (`end`, default: the latest event or outcome); the first is at or after `start`
    (default: the first lead's creation plus one cadence, or the time by which `MASS_QUANTILE`
    of the leads were created when that is later).
    """
    history_end = to_utc(end) if end is not None else data.history_end()
    if history_end is None:
        raise BadInputError(f"{data.sources['events']}: column 'ts': no events or outcomes to build cutoffs from (0 rows)")
    first_lead, mass_start = data.con.execute(
        f"SELECT min(created_at), quantile_disc(created_at, {MASS_QUANTILE}) FROM leads").fetchall()[0]
    if first_lead is None:
        raise BadInputError(f"{data.sources['leads']}: column 'created_at': no leads to build cutoffs for (0 rows)")
    # A few stray early leads (a 1970 placeholder date) must not stretch the snapshots over empty
    # years: the first cutoff is no earlier than the time by which 1 % of the leads existed.
    default_first = max(to_utc(first_lead) + pd.Timedelta(days=cadence_days), to_utc(mass_start))
    first = to_utc(start) if start is not None else default_first
    last = (history_end - pd.Timedelta(days=horizon_days)).floor("D")
    cutoffs = []
    t = last
    while t >= first:
        cutoffs.append(t)
        t -= pd.Timedelta(days=cadence_days)
    return sorted(cutoffs)


def check_targets_reached(data: LoadedData, targets: list[str]) -> None:
    """A one-line error when no outcome reaches a target (an unknown stage name, say), instead of
    windows without positives later on."""
    present = [row[0] for row in data.con.execute("SELECT DISTINCT stage FROM outcomes ORDER BY stage").fetchall()]
    for target in targets:
        implied = STAGE_ORDER[STAGE_ORDER.index(target):] if target in STAGE_ORDER else (target,)
        if not set(implied) & set(present):
            n_rows = data.count("outcomes")
            raise BadInputError(
                f"{data.sources['outcomes']}: column 'stage' never reaches target '{target}' (0 of {n_rows} rows); "
                f"stages present: {', '.join(present) or 'none'}"
            )


def _reach_columns(targets: list[str]) -> str:
    """SQL selecting, per lead, when it first reached each target (a later stage implies it)."""
    parts = []
    for target in [*targets, STAGE_ORDER[-1]]:
        if target in STAGE_ORDER:
            implied = STAGE_ORDER[STAGE_ORDER.index(target):]
        else:
            implied = (target,)
        stages = ", ".join("'" + s.replace("'", "''") + "'" for s in implied)
        parts.append(f"min(CASE WHEN stage IN ({stages}) THEN reached_at END) AS {quote_identifier('reach_' + target)}")
    return ", ".join(dict.fromkeys(parts))


def label_examples(
    data: LoadedData,
    cutoffs: list[pd.Timestamp],
    targets: list[str],
    horizon_days: int,
    leads_per_cutoff: int | None = None,
    seed: int = 0,
    history_end=None,
) -> pd.DataFrame:
    """The (lead, cutoff) pairs with their labels, before features.

    For each cutoff: leads created before it that are not yet customers and have not yet
    reached every target; optionally a seeded sample of `leads_per_cutoff` of them. Cutoffs
    whose horizon runs past the end of the history are dropped. `label_<S>` is 1.0 when the
    lead reached S in (cutoff, cutoff + horizon], 0.0 when not, NaN when it had already
    reached S by the cutoff (not an example for S).
    """
    end = to_utc(history_end) if history_end is not None else data.history_end()
    horizon = pd.Timedelta(days=horizon_days)
    kept = sorted({to_utc(c) for c in cutoffs if end is not None and to_utc(c) + horizon <= end})
    columns = ["lead_id", "cutoff", *[f"label_{t}" for t in targets]]
    if not kept:
        return pd.DataFrame(columns=columns)
    con = data.con
    con.register("cutoffs_input", pd.DataFrame({"cutoff": pd.to_datetime(kept, utc=True)}))
    final = STAGE_ORDER[-1]
    reach = {t: quote_identifier(f"reach_{t}") for t in [*targets, STAGE_ORDER[-1]]}
    open_for_some = " OR ".join(f"NOT coalesce({reach[t]} <= c.cutoff, false)" for t in targets)
    labels = ", ".join(
        f"CASE WHEN {reach[t]} <= cutoff THEN NULL "
        f"WHEN {reach[t]} <= cutoff + INTERVAL {int(horizon_days * 24 * 3600)} SECOND THEN 1.0 "
        f"ELSE 0.0 END AS {quote_identifier(f'label_{t}')}"
        for t in targets
    )
    limit = "" if not leads_per_cutoff else f"WHERE rn <= {int(leads_per_cutoff)}"
    frame = con.execute(
        f"""
        WITH reach AS (SELECT lead_id, {_reach_columns(targets)} FROM outcomes GROUP BY lead_id),
        candidates AS (
          SELECT l.lead_id, c.cutoff, r.*
          FROM leads l CROSS JOIN cutoffs_input c LEFT JOIN reach r ON r.lead_id = l.lead_id
          WHERE l.created_at < c.cutoff
            AND NOT coalesce(r.{reach[final]} <= c.cutoff, false)
            AND ({open_for_some})),
        ranked AS (
          SELECT *, row_number() OVER (
            PARTITION BY cutoff ORDER BY hash(lead_id, {int(seed)}, epoch_us(cutoff)), lead_id) AS rn
          FROM candidates)
        SELECT lead_id, cutoff, {labels} FROM ranked {limit}
        ORDER BY cutoff, lead_id
        """
    ).df()
    con.unregister("cutoffs_input")
    frame["cutoff"] = pd.to_datetime(frame["cutoff"], utc=True)
    return frame[columns]


def build_examples(
    data: LoadedData,
    spec: FeatureSpec,
    cutoffs: list[pd.Timestamp],
    targets: list[str],
    horizon_days: int,
    leads_per_cutoff: int | None = None,
    seed: int = 0,
    history_end=None,
) -> pd.DataFrame:
    """Snapshot examples: `lead_id`, `cutoff`, the spec's features and `label_<target>` columns."""
    labelled = label_examples(data, cutoffs, targets, horizon_days, leads_per_cutoff, seed, history_end)
    label_cols = [c for c in labelled.columns if c.startswith("label_")]
    table = build_feature_table(data, spec, labelled[["lead_id", "cutoff"]])
    for col in label_cols:
        table[col] = labelled[col].astype(float).to_numpy()
    return table
