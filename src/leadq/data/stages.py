"""Funnel stages as a user's CRM spells them, and stage dates held as columns of the leads table.

`stages:` maps the user's stage values onto stage names (`Qualified Prospect: mql`,
`Opportunity: sql`), matched like event types (case, spaces, `_` and `-` ignored);
unmapped values are kept lower-cased. `stage_columns:` names, per stage, a column of the leads
table holding the date the lead reached it (`mql: "MQL date"`); those
dates become outcome rows, beside the rows of an outcomes table when there is one. A stage
column is never an attribute: it is the label.
"""

import duckdb

from leadq.core.errors import BadInputError
from leadq.data.bound import bind_value, quote_identifier
from leadq.data.mapping import DataMapping
from leadq.data.timestamps import timestamp_sql

DERIVED_TABLE = "raw_outcomes_derived"


def stage_key_sql(text_sql: str) -> str:
    """SQL for `leadq.data.mapping.value_key` of a text expression."""
    return f"lower(regexp_replace({text_sql}, '[\\s_\\-]+', '', 'g'))"


def stage_sql(con: duckdb.DuckDBPyConnection, mapping: DataMapping, text_sql: str) -> str:
    """SQL naming the stage of a stage value (`text_sql`, trimmed text or NULL)."""
    keys = mapping.stage_keys()
    if not keys:
        return f"lower({text_sql})"
    whens = " ".join(f"WHEN {bind_value(con, key)} THEN {bind_value(con, stage)}" for key, stage in keys.items())
    return f"CASE {stage_key_sql(text_sql)} {whens} ELSE lower({text_sql}) END"


def _columns(con, relation: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute(f"DESCRIBE {relation}").fetchall()}


def _relation_kind(con, relation: str) -> str | None:
    rows = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = ?",
                       [relation]).fetchall()
    return None if not rows else ("VIEW" if rows[0][0] == "VIEW" else "TABLE")


def derive_outcomes(con: duckdb.DuckDBPyConnection, mapping: DataMapping, leads_source: str,
                    outcomes_source: str | None) -> str:
    """Replace `raw_outcomes` with the rows of the outcomes table (when `outcomes_source` is
    not None) plus one row per lead and stage column with a date; returns the source to name.

    The rows keep the outcomes table's column names (its mapped names), with `reached_at`
    already parsed, so validation treats them as any outcomes table."""
    id_out = quote_identifier(mapping.source_column("outcomes", "lead_id"))
    stage_out = quote_identifier(mapping.source_column("outcomes", "stage"))
    reached_src = mapping.source_column("outcomes", "reached_at")
    leads = _columns(con, "raw_leads")
    n_leads = con.execute("SELECT count(*) FROM raw_leads").fetchall()[0][0]
    lead_id = mapping.source_column("leads", "lead_id")
    if lead_id not in leads:
        return outcomes_source or leads_source  # reported when the leads table is validated
    arms = []
    if outcomes_source is not None:
        present = _columns(con, "raw_outcomes")
        n_rows = con.execute("SELECT count(*) FROM raw_outcomes").fetchall()[0][0]
        for contract_col in ("lead_id", "stage", "reached_at"):
            if mapping.source_column("outcomes", contract_col) not in present:
                raise BadInputError(f"{outcomes_source}: required column "
                                    f"'{mapping.source_column('outcomes', contract_col)}' is missing in all "
                                    f"{n_rows} rows")
        reached = timestamp_sql(con, reached_src, present[reached_src],
                                mapping.timestamp_format("outcomes", "reached_at", reached_src),
                                "mapping timestamps.outcomes")
        arms.append(f"SELECT CAST({id_out} AS VARCHAR) AS {id_out}, CAST({stage_out} AS VARCHAR) AS {stage_out}, "
                    f"{reached} AS {quote_identifier(reached_src)} FROM raw_outcomes")
    for stage, column in mapping.stage_columns.items():
        if column not in leads:
            raise BadInputError(f"{leads_source}: column '{column}' (stage_columns.{stage} in the mapping) is "
                                f"missing in all {n_leads} rows")
        reached = timestamp_sql(con, column, leads[column], mapping.timestamp_format("leads", stage, column),
                                f"mapping timestamps.leads ({column})")
        filled = f"nullif(trim(CAST({quote_identifier(column)} AS VARCHAR)), '') IS NOT NULL"
        arms.append(f"SELECT CAST({quote_identifier(lead_id)} AS VARCHAR) AS {id_out}, "
                    f"{bind_value(con, stage)} AS {stage_out}, {reached} AS {quote_identifier(reached_src)} "
                    f"FROM raw_leads WHERE {filled}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {DERIVED_TABLE} AS {' UNION ALL '.join(arms)}")
    kind = _relation_kind(con, "raw_outcomes")
    if kind is not None:
        con.execute(f"DROP {kind} raw_outcomes")
    con.execute(f"CREATE TEMP VIEW raw_outcomes AS SELECT * FROM {DERIVED_TABLE}")
    return outcomes_source or f"{leads_source} (stage_columns)"
