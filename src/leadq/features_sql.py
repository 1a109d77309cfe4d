"""Compile a FeatureSpec into SQL, the one definition of every engagement feature.

The SQL is written in the subset that DuckDB and Spark SQL share (CASE inside aggregates, RANGE
frames over an integer order key, no dialect date functions); a `Dialect` supplies the one
function that differs: timestamp to epoch microseconds.

Relations the queries read:
- `events(lead_id, ts, event_type, duration_s, page, content_id)`, validated;
- `leads(lead_id, created_at, <attributes>)`;
- `examples(ex_id, lead_id, cut_us)`: the (lead, cutoff) pairs to describe, cutoff in epoch µs.

Semantics (documented in data/README.md): only events with ts < cutoff count; a window of d days
is [cutoff - d days, cutoff); days are UTC days; a session starts at a lead's first event and at
every event more than `session_gap_minutes` after the previous one; a return is a
`return_event_type` event 12 hours to 7 days (by default) after an earlier one.
"""

from dataclasses import dataclass

from leadq.feature_spec import ALL_TIME, FeatureSpec

US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
US_PER_MINUTE = 60_000_000


@dataclass(frozen=True)
class Dialect:
    """The bits of SQL that differ between engines."""

    epoch_us: str  # format string taking the timestamp expression
    quote: str  # identifier quote character

    def ident(self, name: str) -> str:
        """Quote an identifier (column names may hold spaces and odd characters)."""
        q = self.quote
        return q + name.replace(q, q + q) + q


DUCKDB = Dialect(epoch_us="epoch_us({})", quote='"')
SPARK = Dialect(epoch_us="unix_micros({})", quote="`")


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def prepared_events_sql(spec: FeatureSpec, dialect: Dialect) -> str:
    """Per-event columns that depend only on the event and earlier ones (never on a cutoff)."""
    groups = ", ".join(_lit(t) for t in spec.event_types)
    ret = _lit(spec.return_event_type)
    gap_us = int(spec.session_gap_minutes * US_PER_MINUTE)
    ret_min_us = int(spec.return_min_hours * US_PER_HOUR)
    ret_max_us = int(spec.return_max_days * US_PER_DAY)
    order = "PARTITION BY lead_id ORDER BY ts_us"
    return f"""
SELECT lead_id, ts_us, event_type, grp, duration_s, page, content_id,
       CAST(floor(ts_us / {US_PER_DAY}) AS BIGINT) AS day,
       CASE WHEN lag(ts_us) OVER ({order}) IS NULL
              OR ts_us - lag(ts_us) OVER ({order}) > {gap_us} THEN 1 ELSE 0 END AS new_session,
       CASE WHEN event_type = {ret}
             AND sum(CASE WHEN event_type = {ret} THEN 1 ELSE 0 END)
                 OVER ({order} RANGE BETWEEN {ret_max_us} PRECEDING AND {ret_min_us} PRECEDING) > 0
            THEN 1 ELSE 0 END AS is_return
FROM (
  SELECT lead_id, {dialect.epoch_us.format('ts')} AS ts_us, event_type,
         CASE WHEN event_type IN ({groups}) THEN event_type ELSE 'other' END AS grp,
         duration_s, page, content_id
  FROM events
) e
"""


def journey_sql(spec: FeatureSpec) -> str:
    """Per lead, when each step of the tell-tale sequence was first completed in order.

    Step k's time is the first event of journey type k strictly after step k-1's time; the last
    step is a return after the final journey type. A lead is at stage s as of a cutoff when
    step s happened before it, so later events never change an earlier stage.
    """
    types = spec.journey_types
    parts = [
        f"j1 AS (SELECT lead_id, min(ts_us) AS t FROM prepared_events "
        f"WHERE event_type = {_lit(types[0])} GROUP BY lead_id)"
    ]
    steps = [f"event_type = {_lit(t)}" for t in types[1:]] + ["is_return = 1"]
    for k, condition in enumerate(steps, start=2):
        parts.append(
            f"j{k} AS (SELECT e.lead_id, min(e.ts_us) AS t FROM prepared_events e "
            f"JOIN j{k - 1} p ON p.lead_id = e.lead_id WHERE {condition} AND e.ts_us > p.t "
            f"GROUP BY e.lead_id)"
        )
    n_steps = len(types) + 1
    select = ", ".join(f"j{k}.t AS t{k}" for k in range(1, n_steps + 1))
    joins = " ".join(f"LEFT JOIN j{k} ON j{k}.lead_id = j1.lead_id" for k in range(2, n_steps + 1))
    return f"WITH {', '.join(parts)} SELECT j1.lead_id, {select} FROM j1 {joins}"


def type_aggregates_sql(spec: FeatureSpec) -> str:
    """One row per (example, event-type group): counts per window, duration, last time."""
    windows = [
        f"sum(CASE WHEN e.ts_us >= x.cut_us - {d * US_PER_DAY} THEN 1 ELSE 0 END) AS n_{d}d"
        for d in spec.windows_days
    ]
    return f"""
SELECT x.ex_id, e.grp, count(*) AS n_{ALL_TIME}, {", ".join(windows)},
       sum(e.duration_s) AS duration_s, max(e.ts_us) AS last_us
FROM examples x JOIN prepared_events e ON e.lead_id = x.lead_id AND e.ts_us < x.cut_us
GROUP BY x.ex_id, e.grp
"""


def lead_aggregates_sql(spec: FeatureSpec) -> str:
    """One row per example: repeat visits, breadth, trend and time on site over all types."""
    d30 = 30 * US_PER_DAY
    recent = spec.trend_recent_days * US_PER_DAY
    base = (spec.trend_recent_days + spec.trend_base_days) * US_PER_DAY
    return f"""
SELECT x.ex_id,
       count(DISTINCT e.day) AS active_days_all,
       count(DISTINCT CASE WHEN e.ts_us >= x.cut_us - {d30} THEN e.day END) AS active_days_30d,
       sum(e.new_session) AS sessions_all,
       sum(CASE WHEN e.ts_us >= x.cut_us - {d30} THEN e.new_session ELSE 0 END) AS sessions_30d,
       sum(e.is_return) AS returns_all,
       sum(CASE WHEN e.ts_us >= x.cut_us - {d30} THEN e.is_return ELSE 0 END) AS returns_30d,
       count(DISTINCT e.content_id) AS distinct_content_all,
       count(DISTINCT e.page) AS distinct_pages_all,
       sum(CASE WHEN e.ts_us >= x.cut_us - {recent} THEN 1 ELSE 0 END) AS n_recent,
       sum(CASE WHEN e.ts_us >= x.cut_us - {base} AND e.ts_us < x.cut_us - {recent} THEN 1 ELSE 0 END)
           AS n_base,
       sum(e.duration_s) AS duration_s
FROM examples x JOIN prepared_events e ON e.lead_id = x.lead_id AND e.ts_us < x.cut_us
GROUP BY x.ex_id
"""


def feature_select_sql(spec: FeatureSpec, dialect: Dialect) -> str:
    """The final feature vector per example, joining the aggregates, journey and lead attributes.

    Reads `type_aggregates`, `lead_aggregates`, `journey`, `examples` and `leads`.
    """
    day = float(US_PER_DAY)
    windows = spec.window_labels()
    pivot = []
    for group in spec.count_groups():
        for w in windows:
            pivot.append(f"sum(CASE WHEN grp = {_lit(group)} THEN n_{w} ELSE 0 END) AS {dialect.ident(group + '_' + w)}")
    for w in windows:
        pivot.append(f"sum(n_{w}) AS events_{w}")
    for t in spec.duration_types:
        pivot.append(f"sum(CASE WHEN grp = {_lit(t)} THEN duration_s END) AS dur_{t}")
    for t in spec.recency_types:
        pivot.append(f"max(CASE WHEN grp = {_lit(t)} THEN last_us END) AS last_{t}")
    pivot.append("max(last_us) AS last_any")

    out = []
    if spec.include_engagement:
        for group in spec.count_groups():
            for w in windows:
                name = dialect.ident(f"{group}_{w}")
                out.append(f"CAST(coalesce(p.{name}, 0) AS DOUBLE) AS {name}")
        for w in windows:
            out.append(f"CAST(coalesce(p.events_{w}, 0) AS DOUBLE) AS events_{w}")
        out.append("CAST(coalesce(a.duration_s, 0) AS DOUBLE) AS time_on_site_s_sum")
        out.append("CAST(a.duration_s AS DOUBLE) / CASE WHEN a.sessions_all > 0 THEN a.sessions_all END "
                   "AS time_on_site_s_mean")
        for t in spec.duration_types:
            out.append(f"CAST(coalesce(p.dur_{t}, 0) AS DOUBLE) AS time_on_{t}_s_sum")
        out.append(f"(x.cut_us - p.last_any) / {day} AS days_since_last_event")
        for t in spec.recency_types:
            out.append(f"(x.cut_us - p.last_{t}) / {day} AS days_since_last_{t}")
            out.append(f"CASE WHEN p.last_{t} IS NULL THEN 1.0 ELSE 0.0 END AS no_{t}")
        for name in ("active_days_all", "active_days_30d", "sessions_all", "sessions_30d"):
            out.append(f"CAST(coalesce(a.{name}, 0) AS DOUBLE) AS {name}")
        ret = spec.return_event_type
        out.append(f"CAST(coalesce(a.returns_all, 0) AS DOUBLE) AS {ret}_returns_all")
        out.append(f"CAST(coalesce(a.returns_30d, 0) AS DOUBLE) AS {ret}_returns_30d")
        out.append("CAST(coalesce(a.distinct_content_all, 0) AS DOUBLE) AS distinct_content_all")
        out.append("CAST(coalesce(a.distinct_pages_all, 0) AS DOUBLE) AS distinct_pages_all")
        out.append(
            f"coalesce(a.n_recent, 0) / {float(spec.trend_recent_days)} "
            f"- coalesce(a.n_base, 0) / {float(spec.trend_base_days)} AS {spec.trend_column()}"
        )
        n_steps = len(spec.journey_types) + 1
        stage = " + ".join(f"CASE WHEN j.t{k} < x.cut_us THEN 1 ELSE 0 END" for k in range(1, n_steps + 1))
        out.append(f"CAST({stage} AS DOUBLE) AS journey_stage")
    out.append(f"(x.cut_us - {dialect.epoch_us.format('l.created_at')}) / {day} AS lead_age_days")
    for name in spec.numeric_attributes:
        out.append(f"CAST(l.{dialect.ident(name)} AS DOUBLE) AS {dialect.ident(name)}")
    for name in spec.categorical_attributes:
        out.append(f"CAST(l.{dialect.ident(name)} AS STRING) AS {dialect.ident(name)}")
    return f"""
WITH p AS (SELECT ex_id, {", ".join(pivot)} FROM type_aggregates GROUP BY ex_id)
SELECT x.ex_id, {", ".join(out)}
FROM examples x
JOIN leads l ON l.lead_id = x.lead_id
LEFT JOIN p ON p.ex_id = x.ex_id
LEFT JOIN lead_aggregates a ON a.ex_id = x.ex_id
LEFT JOIN journey j ON j.lead_id = x.lead_id
"""
