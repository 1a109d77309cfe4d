"""The generator's arrays as the contract's four tables (leads, events, outcomes, truth), and
writing them as Parquet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from leadq.data.contract import CANONICAL_EVENT_TYPES, STAGE_ORDER
from leadq.data.synth.clock import NAT, days_to_us
from leadq.data.synth.funnel import StageTimes
from leadq.data.synth.parameters import (
    CUSTOMER_PROB, HAZARD_SHAPE, LEAD_TYPES, MQL_DELAY_DAYS, MQL_SCALE_DAYS, SQL_DELAY_DAYS,
    SQL_SCALE_DAYS,
)
from leadq.data.synth.population import LatentLeads, LeadAttributes
from leadq.data.synth.vocabulary import CHANNELS, CONTENT_IDS, COUNTRIES, INDUSTRIES, PAGES, SOURCES, TITLES


def timestamp_column(us: np.ndarray) -> pd.Series:
    """int64 microseconds (NAT: missing) as a ``datetime64[us, UTC]`` column."""
    return pd.Series(us.astype("datetime64[us]")).dt.tz_localize("UTC")


def string_column(codes: np.ndarray, vocab: tuple[str, ...]) -> pd.Series:
    """Codes into `vocab` (negative: missing) as an Arrow-backed string column."""
    codes = np.asarray(codes, dtype=np.int32)
    arr = pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0),
                                         pa.array(list(vocab), pa.string())).dictionary_decode()
    return pd.Series(arr, dtype=pd.StringDtype("pyarrow", na_value=np.nan))


def lead_ids(n: int) -> np.ndarray:
    """The ids ``L0000001``, ``L0000002``, ... of `n` leads (at least seven digits)."""
    width = max(7, len(str(n)))
    ids = np.arange(1, n + 1, dtype=np.int64)
    digits = np.empty((n, width + 1), dtype=np.uint8)
    digits[:, 0] = ord("L")
    for k in range(width):
        digits[:, width - k] = ord("0") + (ids // 10**k) % 10
    return digits.view(f"S{width + 1}").ravel().astype(str).astype(object)


def leads_table(leads: LatentLeads, attributes: LeadAttributes, ids: np.ndarray,
                start_us: int) -> pd.DataFrame:
    """The ``leads`` table: id, creation time and attributes."""
    return pd.DataFrame({
        "lead_id": string_column(np.arange(len(ids)), tuple(ids)),
        "created_at": timestamp_column(days_to_us(start_us, leads.created)),
        "source": string_column(attributes.source, SOURCES),
        "country": string_column(attributes.country, COUNTRIES),
        "industry": string_column(attributes.industry, INDUSTRIES),
        "company_size": attributes.company_size,
        "job_title": string_column(attributes.title, TITLES),
    })


def events_table(events: dict[str, np.ndarray], ids: np.ndarray) -> pd.DataFrame:
    """The ``events`` table from `engagement.draw_events`' code arrays."""
    return pd.DataFrame({
        "lead_id": string_column(events["lead"], tuple(ids)),
        "ts": timestamp_column(events["ts_us"]),
        "event_type": string_column(events["event_type"], CANONICAL_EVENT_TYPES),
        "duration_s": events["duration_s"].astype(np.float64),
        "page": string_column(events["page"], PAGES),
        "content_id": string_column(events["content"], CONTENT_IDS),
        "channel": string_column(events["channel"], CHANNELS),
    })


def reached_us(stages: StageTimes, start_us: int, end_us: int) -> dict[str, np.ndarray]:
    """Each stage's time per lead in microseconds, NAT when not reached before `end_us`."""
    stage_us = {name: days_to_us(start_us, t) for name, t in
                (("mql", stages.mql), ("sql", stages.sql), ("customer", stages.customer))}
    for name in stage_us:
        stage_us[name][stage_us[name] >= end_us] = NAT
    return stage_us


def outcomes_table(stage_us: dict[str, np.ndarray], ids: np.ndarray) -> pd.DataFrame:
    """The ``outcomes`` table: one row per stage reached (`reached_us`), by lead then stage."""
    parts = []
    for k, name in enumerate(STAGE_ORDER):
        hit = np.flatnonzero(stage_us[name] != NAT)
        parts.append((hit, np.full(hit.size, k), stage_us[name][hit]))
    o_lead, o_stage, o_us = (np.concatenate(c) for c in zip(*parts))
    order = np.lexsort((o_stage, o_lead))
    return pd.DataFrame({
        "lead_id": string_column(o_lead[order], tuple(ids)),
        "stage": string_column(o_stage[order], STAGE_ORDER),
        "reached_at": timestamp_column(o_us[order]),
    })


def truth_table(leads_frame: pd.DataFrame, leads: LatentLeads, stages: StageTimes,
                stage_us: dict[str, np.ndarray], unsubscribe: np.ndarray, span: float,
                start_us: int) -> pd.DataFrame:
    """The ``truth`` table: the latent state `oracle_probability` reads, and the realised
    stage and unsubscribe times."""
    n, ltype = leads.created.size, leads.lead_type
    return pd.DataFrame({
        "lead_id": leads_frame["lead_id"].copy(),
        "created_at": leads_frame["created_at"].copy(),
        "lead_type": string_column(ltype, LEAD_TYPES),
        "intent": leads.intent,
        "activity": leads.activity,
        "hot": leads.hot,
        "window_rate": leads.window_rate,
        "window_open_at": timestamp_column(days_to_us(start_us, leads.window_open)),
        "window_strength": np.where(leads.has_window, leads.strength, 0.0),
        "sql_window_mass": stages.sql_window_mass,
        "mql_window_mass": stages.mql_window_mass,
        "sql_base_hazard": stages.sql_base_hazard,
        "mql_base_hazard": stages.mql_base_hazard,
        "sql_scale_days": SQL_SCALE_DAYS,
        "mql_scale_days": MQL_SCALE_DAYS,
        "sql_delay_days": SQL_DELAY_DAYS,
        "mql_delay_days": MQL_DELAY_DAYS,
        "hazard_shape": HAZARD_SHAPE,
        "hazard_shift_at": timestamp_column(np.full(n, stages.hazard_shift_us)),
        "hazard_factor_after": stages.hazard_factor_after,
        "customer_prob": CUSTOMER_PROB[ltype],
        "unsubscribe_at": timestamp_column(np.where(unsubscribe < span, days_to_us(start_us, unsubscribe),
                                                    NAT)),
        "mql_at": timestamp_column(stage_us["mql"]),
        "sql_at": timestamp_column(stage_us["sql"]),
        "customer_at": timestamp_column(stage_us["customer"]),
    })


def write_generated(tables: dict[str, pd.DataFrame], out_dir: Path) -> dict[str, Path]:
    """Write each generated table to ``out_dir/NAME.parquet``.

    Each file is written under a temporary name and renamed, so no half-written file is left
    behind.

    Args:
        tables: The dict returned by `generate` (any name -> DataFrame mapping works).
        out_dir: Target folder, created if missing.

    Returns:
        The path of each written file, by table name.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in tables.items():
        path = out_dir / f"{name}.parquet"
        tmp = out_dir / f".{name}.parquet.tmp"
        frame.to_parquet(tmp, index=False)
        tmp.replace(path)
        paths[name] = path
    return paths
