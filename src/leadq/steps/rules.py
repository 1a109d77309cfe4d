"""The `rules score` step: read and validate, score open leads by a scorecard, write."""

from pathlib import Path

from leadq.core.files import write_table
from leadq.data.load import load_data
from leadq.data.mapping import DataMapping
from leadq.steps.features import parse_timestamp
from leadq.rules.scorecard import load_scorecard, score_leads
from leadq.core.yaml_model import load_yaml_model


def default_as_of(data):
    """The latest event time in the data (the cutoff when none is given)."""
    value = data.con.execute("SELECT max(ts) FROM events").fetchall()[0][0]
    from leadq.features.engine import to_utc

    return to_utc(value) if value is not None else data.clock


def rules_score_to_file(rules_path: Path, data_dir: Path, out: Path, as_of: str | None = None,
                        mapping_path: Path | None = None):
    """Score every open lead by the scorecard at `rules_path` and write the table to `out`.

    Returns the number of rows, the cutoff used and the data report.
    """
    scorecard = load_scorecard(rules_path)
    mapping = load_yaml_model(mapping_path, DataMapping) if mapping_path else DataMapping()
    data = load_data(data_dir, mapping, require_leads=False)
    cutoff = parse_timestamp(as_of) if as_of else default_as_of(data)
    table = score_leads(data, scorecard, cutoff)
    write_table(table, out)
    return len(table), cutoff.isoformat(), data.report
