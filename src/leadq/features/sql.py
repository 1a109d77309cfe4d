"""Compile a FeatureSpec into SQL: the Spark engine's definition of every engagement feature.

The in-process engine (`event_arrays`, `features`) computes the same features on numpy arrays;
tests hold the two equal to 1e-9 on generated data and on hypothesis-drawn histories. The SQL
keeps to plain constructs (CASE inside aggregates, RANGE frames over an integer order key, no
dialect date functions); a `Dialect` supplies timestamp to epoch microseconds and quoting.

Relations the queries read:
- `events(lead_key, ts, event_type, duration_s, page, content_id)`, validated;
- `leads(lead_key, lead_id, created_at, <attributes>)`;
- `examples(ex_id, lead_key, cut_us)`: the (lead, cutoff) pairs to describe, cutoff in epoch µs.

The work is split so that nothing cutoff-dependent needs a window function:
1. `marks` (once per data set): one row per session start, per first event of a UTC day, per
   first touch of a content item or page, per return to the pricing page. Each depends only
   on the event and earlier ones, so counting marks before a cutoff is point-in-time correct.
2. `journey` (once): per lead, when each step of the tell-tale sequence was first completed.
3. per set of examples: one aggregation per (example, event-type group) over the events, one
   over the marks, then a pivot into the feature vector.

Semantics (documented in data/README.md): only events with ts < cutoff count; a window of d days
is [cutoff - d days, cutoff); days are UTC days; a session starts at a lead's first event and at
every event more than `session_gap_minutes` after the previous one; a return is a
`return_event_type` event 12 hours to 7 days (by default) after an earlier one.
"""

from dataclasses import dataclass

from leadq.features.spec import ALL_TIME, FeatureSpec

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


SPARK = Dialect(epoch_us="unix_micros({})", quote="`")


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _double(value: float) -> str:
    """A DOUBLE constant. A bare `7.0` is a DECIMAL in Spark SQL (and DuckDB), which would turn
    divisions into decimal arithmetic on Spark; an explicit cast gives DOUBLE in both dialects."""
    return f"CAST({float(value)!r} AS DOUBLE)"


def _events(dialect: Dialect, columns: str = "event_type, duration_s, page, content_id") -> str:
    return f"(SELECT lead_key, {dialect.epoch_us.format('ts')} AS us, {columns} FROM events)"


def marks_sql(spec: FeatureSpec, dialect: Dialect) -> str:
    """Cutoff-independent marks: (lead_key, kind, day, us) for session starts ('session'), first
    event of each UTC day ('day'), first touch of each content item and page ('content',
    'page') and returns ('return')."""
    ret = _lit(spec.return_event_type)
    gap_us = int(spec.session_gap_minutes * US_PER_MINUTE)
    ret_min_us = int(spec.return_min_hours * US_PER_HOUR)
    ret_max_us = int(spec.return_max_days * US_PER_DAY)
    ev = _events(dialect, "event_type, page, content_id")
    day = f"CAST(floor(us / {US_PER_DAY}) AS BIGINT)"
    no_day = "CAST(NULL AS BIGINT)"
    return f"""
SELECT lead_key, 'session' AS kind, {no_day} AS day, us FROM (
  SELECT lead_key, us, lag(us) OVER (PARTITION BY lead_key ORDER BY us) AS prev FROM {ev} e) s
WHERE prev IS NULL OR us - prev > {gap_us}
UNION ALL
SELECT lead_key, 'day' AS kind, day, min(us) AS us
FROM (SELECT lead_key, us, {day} AS day FROM {ev} e) d GROUP BY lead_key, day
UNION ALL
SELECT lead_key, 'content' AS kind, {no_day} AS day, min(us) AS us
FROM {ev} e WHERE content_id IS NOT NULL GROUP BY lead_key, content_id
UNION ALL
SELECT lead_key, 'page' AS kind, {no_day} AS day, min(us) AS us
FROM {ev} e WHERE page IS NOT NULL GROUP BY lead_key, page
UNION ALL
SELECT lead_key, 'return' AS kind, {no_day} AS day, us FROM (
  SELECT lead_key, us, count(*) OVER (PARTITION BY lead_key ORDER BY us
                                      RANGE BETWEEN {ret_max_us} PRECEDING AND {ret_min_us} PRECEDING) AS earlier
  FROM {ev} e WHERE event_type = {ret}) r
WHERE earlier > 0
"""


def journey_sql(spec: FeatureSpec, dialect: Dialect) -> str:
    """Per lead, when each step of the tell-tale sequence was first completed in order.

    Step k's time is the first event of journey type k strictly after step k-1's time; the last
    step is a return (a 'return' mark) after the final journey type. A lead is at stage s as
    of a cutoff when step s happened before it, so later events never change an earlier stage.
    """
    types = spec.journey_types
    ev = _events(dialect, "event_type")
    parts = [f"j1 AS (SELECT lead_key, min(us) AS t FROM {ev} e "
             f"WHERE event_type = {_lit(types[0])} GROUP BY lead_key)"]
    sources = [(f"{ev}", f"e.event_type = {_lit(t)}") for t in types[1:]]
    sources.append(("marks", "e.kind = 'return'"))
    for k, (source, condition) in enumerate(sources, start=2):
        parts.append(
            f"j{k} AS (SELECT e.lead_key, min(e.us) AS t FROM {source} e "
            f"JOIN j{k - 1} p ON p.lead_key = e.lead_key WHERE {condition} AND e.us > p.t "
            f"GROUP BY e.lead_key)"
        )
    n_steps = len(types) + 1
    select = ", ".join(f"j{k}.t AS t{k}" for k in range(1, n_steps + 1))
    joins = " ".join(f"LEFT JOIN j{k} ON j{k}.lead_key = j1.lead_key" for k in range(2, n_steps + 1))
    return f"WITH {', '.join(parts)} SELECT j1.lead_key, {select} FROM j1 {joins}"


def type_aggregates_sql(spec: FeatureSpec, dialect: Dialect) -> str:
    """One row per (example, event-type group): counts per window and for the trend, duration,
    last time."""
    groups = ", ".join(_lit(t) for t in spec.event_types)
    windows = [
        f"sum(CASE WHEN e.us >= x.cut_us - {d * US_PER_DAY} THEN 1 ELSE 0 END) AS n_{d}d"
        for d in spec.windows_days
    ]
    recent = spec.trend_recent_days * US_PER_DAY
    base = (spec.trend_recent_days + spec.trend_base_days) * US_PER_DAY
    return f"""
SELECT x.ex_id, CASE WHEN e.event_type IN ({groups}) THEN e.event_type ELSE 'other' END AS grp,
       count(*) AS n_{ALL_TIME}, {", ".join(windows)},
       sum(CASE WHEN e.us >= x.cut_us - {recent} THEN 1 ELSE 0 END) AS n_recent,
       sum(CASE WHEN e.us >= x.cut_us - {base} AND e.us < x.cut_us - {recent} THEN 1 ELSE 0 END) AS n_base,
       sum(e.duration_s) AS duration_s,
       sum(CASE WHEN e.duration_s IS NOT NULL THEN 1 ELSE 0 END) AS n_timed, max(e.us) AS last_us
FROM examples x JOIN {_events(dialect, "event_type, duration_s")} e
  ON e.lead_key = x.lead_key AND e.us < x.cut_us
GROUP BY x.ex_id, CASE WHEN e.event_type IN ({groups}) THEN e.event_type ELSE 'other' END
"""


def mark_aggregates_sql(spec: FeatureSpec) -> str:
    """One row per example: sessions, active days, breadth and returns, counted from marks.

    `active_days_30d` counts UTC days from the day the 30-day window starts in (for the
    midnight cutoffs of training snapshots, exactly the window)."""
    d30 = 30 * US_PER_DAY
    return f"""
SELECT x.ex_id,
       sum(CASE WHEN m.kind = 'session' THEN 1 ELSE 0 END) AS sessions_all,
       sum(CASE WHEN m.kind = 'session' AND m.us >= x.cut_us - {d30} THEN 1 ELSE 0 END) AS sessions_30d,
       sum(CASE WHEN m.kind = 'day' THEN 1 ELSE 0 END) AS active_days_all,
       sum(CASE WHEN m.kind = 'day' AND m.day >= CAST(floor((x.cut_us - {d30}) / {US_PER_DAY}) AS BIGINT)
                THEN 1 ELSE 0 END) AS active_days_30d,
       sum(CASE WHEN m.kind = 'content' THEN 1 ELSE 0 END) AS distinct_content_all,
       sum(CASE WHEN m.kind = 'page' THEN 1 ELSE 0 END) AS distinct_pages_all,
       sum(CASE WHEN m.kind = 'return' THEN 1 ELSE 0 END) AS returns_all,
       sum(CASE WHEN m.kind = 'return' AND m.us >= x.cut_us - {d30} THEN 1 ELSE 0 END) AS returns_30d
FROM examples x JOIN marks m ON m.lead_key = x.lead_key AND m.us < x.cut_us
GROUP BY x.ex_id
"""


def feature_select_sql(spec: FeatureSpec, dialect: Dialect) -> str:
    """The final feature vector per example, joining the aggregates, journey and lead attributes.

    Reads `type_aggregates`, `mark_aggregates`, `journey`, `examples` and `leads`.
    """
    day = _double(US_PER_DAY)
    windows = spec.window_labels()
    pivot = []
    for group in spec.count_groups():
        for w in windows:
            pivot.append(f"sum(CASE WHEN grp = {_lit(group)} THEN n_{w} ELSE 0 END) AS {dialect.ident(group + '_' + w)}")
    for w in windows:
        pivot.append(f"sum(n_{w}) AS events_{w}")
    pivot += ["sum(n_recent) AS n_recent", "sum(n_base) AS n_base", "sum(duration_s) AS duration_all",
              "sum(n_timed) AS n_timed"]
    for t in spec.duration_types:
        pivot.append(f"sum(CASE WHEN grp = {_lit(t)} THEN duration_s END) AS {dialect.ident('dur_' + t)}")
    for t in spec.recency_types:
        pivot.append(f"max(CASE WHEN grp = {_lit(t)} THEN last_us END) AS {dialect.ident('last_' + t)}")
    pivot.append("max(last_us) AS last_any")

    out = []
    if spec.include_engagement:
        for group in spec.count_groups():
            for w in windows:
                name = dialect.ident(f"{group}_{w}")
                out.append(f"CAST(coalesce(p.{name}, 0) AS DOUBLE) AS {name}")
        for w in windows:
            out.append(f"CAST(coalesce(p.events_{w}, 0) AS DOUBLE) AS events_{w}")
        out.append("CAST(coalesce(p.duration_all, 0) AS DOUBLE) AS time_on_site_s_sum")
        out.append("CAST(p.duration_all AS DOUBLE) / CASE WHEN p.n_timed > 0 THEN p.n_timed END "
                   "AS time_on_site_s_mean")
        for t in spec.duration_types:
            out.append(f"CAST(coalesce(p.{dialect.ident('dur_' + t)}, 0) AS DOUBLE) AS {dialect.ident(f'time_on_{t}_s_sum')}")
        out.append(f"(x.cut_us - p.last_any) / {day} AS days_since_last_event")
        for t in spec.recency_types:
            last = f"p.{dialect.ident('last_' + t)}"
            out.append(f"(x.cut_us - {last}) / {day} AS {dialect.ident('days_since_last_' + t)}")
            out.append(f"CAST(CASE WHEN {last} IS NULL THEN 1 ELSE 0 END AS DOUBLE) AS {dialect.ident('no_' + t)}")
        for name in ("active_days_all", "active_days_30d", "sessions_all", "sessions_30d"):
            out.append(f"CAST(coalesce(a.{name}, 0) AS DOUBLE) AS {name}")
        ret = spec.return_event_type
        out.append(f"CAST(coalesce(a.returns_all, 0) AS DOUBLE) AS {dialect.ident(ret + '_returns_all')}")
        out.append(f"CAST(coalesce(a.returns_30d, 0) AS DOUBLE) AS {dialect.ident(ret + '_returns_30d')}")
        out.append("CAST(coalesce(a.distinct_content_all, 0) AS DOUBLE) AS distinct_content_all")
        out.append("CAST(coalesce(a.distinct_pages_all, 0) AS DOUBLE) AS distinct_pages_all")
        out.append(
            f"coalesce(p.n_recent, 0) / {_double(spec.trend_recent_days)} "
            f"- coalesce(p.n_base, 0) / {_double(spec.trend_base_days)} AS {spec.trend_column()}"
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
JOIN leads l ON l.lead_key = x.lead_key
LEFT JOIN p ON p.ex_id = x.ex_id
LEFT JOIN mark_aggregates a ON a.ex_id = x.ex_id
LEFT JOIN journey j ON j.lead_key = x.lead_key
"""
