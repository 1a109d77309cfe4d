"""Event types after the mapping: value to value, then ordered rules over the event's columns.

An event's type is decided in this order:

1. the first of the mapping's `event_rules` whose every condition holds (a glob on the whole
   value, any case, or a regex searched in it; an `event_type` condition is matched on the
   event's own type and on its mapped type, case, spaces, `_` and `-` ignored);
2. else its own type through `event_types` (matched the same insensitive way);
3. else its own type when it spells a canonical type (`PAGE-VIEW` is `page_view`);
4. else its own type, trimmed, kept under its own name (counted in the `other` group).

Steps 2-4 and the `event_type` conditions are decided once per distinct event-type value; the
other conditions are evaluated by DuckDB over every event, their patterns bound as values.
"""

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from leadq.core.errors import BadInputError
from leadq.data.bound import bind_value
from leadq.data.contract import CANONICAL_EVENT_TYPES, OPTIONAL_EVENT_COLUMNS, REQUIRED_COLUMNS
from leadq.data.mapping import DataMapping, RegexCondition, value_key

CODES_TABLE = "event_type_codes"
RULE_COLUMN_PREFIX = "rule_value_"
_REGEX_SPECIAL = frozenset("\\.^$|?*+()[]{}")


@dataclass
class EventTypeSql:
    """SQL for the event-type code of a row (aliases `e`: the parsed events, `c`: the codes
    table joined on `c.source = e.event_type`), its name, and the names in code order."""

    code: str
    name: str
    names: list[str]


def glob_to_regex(pattern: str) -> str:
    """A shell glob (`*`, `?`, `[...]`) as an RE2 pattern matching the whole value."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            start = i + 1
            start += pattern[start:start + 1] == "!"
            start += pattern[start:start + 1] == "]"
            end = pattern.find("]", start)
            if end < 0:
                out.append("\\[")
            else:
                inner = pattern[i + 1:end].replace("\\", "\\\\")
                inner = "^" + inner[1:] if inner.startswith("!") else ("\\" + inner if inner.startswith("^") else inner)
                out.append("[" + inner + "]")
                i = end
        else:
            out.append("\\" + char if char in _REGEX_SPECIAL else char)
        i += 1
    return "".join(out)


def rule_columns(mapping: DataMapping, present: dict[str, str], source: str,
                 count_rows: Callable[[], int]) -> dict[str, str]:
    """Alias -> source column for every column a rule condition reads (besides event_type).

    A condition's column is a contract column of the events table (read through
    `columns.events`) or any column of the file by its own name; one that is absent is a
    one-line error naming the rule and the table's row count (`count_rows()`)."""
    contract = {*REQUIRED_COLUMNS["events"], *OPTIONAL_EVENT_COLUMNS}
    out: dict[str, str] = {}
    for index, rule in enumerate(mapping.event_rules):
        for column in rule.when:
            if column == "event_type":
                continue
            source_col = mapping.source_column("events", column) if column in contract else column
            if source_col not in present:
                raise BadInputError(f"{source}: column '{source_col}' used by event_rules[{index}] (type "
                                    f"'{rule.type}') is missing in all {count_rows()} rows")
            out.setdefault(RULE_COLUMN_PREFIX + str(len(out)), source_col)
    return out


def _mapped_name(raw: str, mapped: dict[str, str], canonical: dict[str, str]) -> str:
    key = value_key(raw)
    if key in mapped:
        return mapped[key]
    return canonical.get(key, raw)


def _type_condition_holds(condition, raw: str, name: str) -> bool:
    if isinstance(condition, RegexCondition):
        return any(re.search(condition.regex, value) for value in (raw, name))
    pattern = value_key(condition)
    return any(fnmatch.fnmatchcase(value_key(value), pattern) for value in (raw, name))


def _bound_pattern(con: duckdb.DuckDBPyConnection, pattern: str, index: int, type_name: str) -> str:
    """A regular expression checked by DuckDB's RE2 (a one-line error naming the rule when it
    refuses it) and bound as a value."""
    try:
        con.execute("SELECT regexp_matches('', ?)", [pattern])
    except duckdb.Error as exc:
        raise BadInputError(f"mapping event_rules[{index}] (type '{type_name}'): pattern '{pattern}' cannot be "
                            f"used ({str(exc).strip().splitlines()[0]})") from None
    return bind_value(con, pattern)


def event_type_sql(con: duckdb.DuckDBPyConnection, mapping: DataMapping, parsed: str,
                   columns: dict[str, str]) -> EventTypeSql:
    """Create table `event_type_codes` (source value, code, bits of the rules whose
    `event_type` condition it meets) from the distinct event types of view `parsed`, and
    return the SQL deciding each event's type. `columns` is `rule_columns`'s result (the
    parsed view holds each alias as trimmed text)."""
    mapped = mapping.event_type_keys()
    canonical = {value_key(t): t for t in CANONICAL_EVENT_TYPES}
    present = [row[0] for row in con.execute(
        f"SELECT DISTINCT event_type FROM {parsed} WHERE event_type IS NOT NULL").fetchall()]
    base = {raw: _mapped_name(raw, mapped, canonical) for raw in present}
    names = sorted({*base.values(), *(rule.type for rule in mapping.event_rules)})
    code = {name: i for i, name in enumerate(names)}
    rows = []
    for raw, name in base.items():
        bits = 0
        for index, rule in enumerate(mapping.event_rules):
            condition = rule.when.get("event_type")
            if condition is not None and _type_condition_holds(condition, raw, name):
                bits |= 1 << index
        rows.append([raw, code[name], bits])
    con.execute(f"CREATE OR REPLACE TEMP TABLE {CODES_TABLE} (source VARCHAR, code INTEGER, rule_bits BIGINT)")
    if rows:  # one statement for all rows, the values bound as three lists
        sources, codes, rule_bits = (list(values) for values in zip(*rows))
        con.execute(f"INSERT INTO {CODES_TABLE} SELECT unnest(?), unnest(?), unnest(?)", [sources, codes, rule_bits])
    alias_of = {source_col: alias for alias, source_col in columns.items()}
    contract = {*REQUIRED_COLUMNS["events"], *OPTIONAL_EVENT_COLUMNS}
    whens = []
    for index, rule in enumerate(mapping.event_rules):
        tests = []
        for column, condition in rule.when.items():
            if column == "event_type":
                tests.append(f"(coalesce(c.rule_bits, 0) & {1 << index}) <> 0")
                continue
            source_col = mapping.source_column("events", column) if column in contract else column
            value = f"e.{alias_of[source_col]}"
            if isinstance(condition, RegexCondition):
                pattern = _bound_pattern(con, condition.regex, index, rule.type)
                tests.append(f"coalesce(regexp_matches({value}, {pattern}), false)")
            else:
                pattern = _bound_pattern(con, glob_to_regex(condition), index, rule.type)
                tests.append(f"coalesce(regexp_full_match({value}, {pattern}, 'i'), false)")
        whens.append(f"WHEN {' AND '.join(tests)} THEN {code[rule.type]}")
    code_sql = "coalesce(c.code, -1)"
    if whens:
        code_sql = f"CASE {' '.join(whens)} ELSE {code_sql} END"
    name_sql = f"{bind_value(con, names)}[{code_sql} + 1]" if names else "CAST(NULL AS VARCHAR)"
    return EventTypeSql(code=code_sql, name=name_sql, names=names)
