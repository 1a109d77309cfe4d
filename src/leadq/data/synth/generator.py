"""`generate`: the synthetic funnel's draws in their fixed order, assembled into four tables.

The order of the random draws is part of the output: latent state, stage times, attributes,
then events. Changing it changes every table for a given seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadq.data.shift import FunnelShift
from leadq.data.synth.clock import US_PER_DAY, history_end
from leadq.data.synth.engagement import draw_events
from leadq.data.synth.funnel import draw_stage_times
from leadq.data.synth.population import draw_attributes, draw_latent_leads
from leadq.data.synth.tables import (
    events_table, lead_ids, leads_table, outcomes_table, reached_us, truth_table,
)


def generate(n_leads: int, seed: int, end: pd.Timestamp | str | None = None,
             history_days: int = 365, shift: FunnelShift | None = None) -> dict[str, pd.DataFrame]:
    """Generate a synthetic lead funnel: leads, events, outcomes and the latent truth.

    Leads are created uniformly over ``[end - history_days, end)``; all events and outcomes
    fall strictly after the lead's creation and strictly before ``end``. The mechanism is
    described in `leadq.data.synth`. The result depends only on the arguments (same seed,
    same frames).

    Args:
        n_leads: Number of leads (about 10 events per lead are generated).
        seed: Seed of the random generator.
        end: End of the history (exclusive), a timestamp or a string; naive times are taken as
            UTC. Defaults to `DEFAULT_END` (2026-06-30 00:00 UTC).
        history_days: Length of the history in days.
        shift: A change of the funnel from a date on (`leadq.data.shift`); everything before
            that date is what the same seed gives without it.

    Returns:
        A dict with four DataFrames (timestamps are ``datetime64[us, UTC]``):
        ``leads`` (lead_id, created_at, source, country, industry, company_size, job_title),
        ``events`` (lead_id, ts, event_type, duration_s, page, content_id, channel; not sorted
        by lead), ``outcomes`` (lead_id, stage, reached_at; one row per stage reached before
        ``end``) and ``truth`` (lead_id, created_at and the latent variables read by
        `oracle_probability`, plus the realised mql_at/sql_at/customer_at).

    Raises:
        ValueError: If ``n_leads`` or ``history_days`` is not positive.
    """
    if n_leads <= 0 or history_days <= 0:
        raise ValueError("n_leads and history_days must be positive")
    rng = np.random.default_rng(seed)
    end_ts = history_end(end)
    end_us = int(end_ts._value)
    span = float(history_days)
    start_us = end_us - int(round(span * US_PER_DAY))
    n = int(n_leads)

    latent = draw_latent_leads(rng, n, span)
    stages = draw_stage_times(rng, latent, shift, start_us)
    attributes = draw_attributes(rng, latent)
    event_arrays, unsubscribe = draw_events(rng, latent, attributes.source, span, start_us, end_us,
                                            shift, seed)

    ids = lead_ids(n)
    events = events_table(event_arrays, ids)
    del event_arrays
    leads = leads_table(latent, attributes, ids, start_us)
    stage_us = reached_us(stages, start_us, end_us)
    outcomes = outcomes_table(stage_us, ids)
    truth = truth_table(leads, latent, stages, stage_us, unsubscribe, span, start_us)
    return {"leads": leads, "events": events, "outcomes": outcomes, "truth": truth}
