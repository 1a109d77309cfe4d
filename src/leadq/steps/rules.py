"""The `rules` steps: score open leads by a scorecard and write the table (`rules score`), and
fit a learned scorecard from the training window and write its YAML (`rules learn`)."""

from pathlib import Path

from leadq.config import load_config
from leadq.core.files import atomic_path, check_table_suffix, refuse_outputs_over_inputs, table_inputs, write_table
from leadq.core.timestamps import future_cutoff_warning, parse_timestamp
from leadq.features.engine import to_utc
from leadq.data.contract import TABLES
from leadq.rules.learned import LearnedScorecard, learn_scorecard
from leadq.steps.train import resolve_data_dir
from leadq.data.load import load_data
from leadq.data.mapping import DataMapping
from leadq.rules.scorecard import load_scorecard, score_leads
from leadq.core.yaml_model import load_yaml_model


def default_as_of(data):
    """The latest event time in the data (the cutoff when none is given)."""
    value = data.con.execute("SELECT max(ts) FROM events").fetchall()[0][0]
    return to_utc(value) if value is not None else data.clock


def rules_score_to_file(rules_path: Path, data_dir: Path, out: Path, as_of: str | None = None,
                        mapping_path: Path | None = None):
    """Score every open lead by the scorecard at `rules_path` and write the table to `out`.

    Returns the number of rows, the cutoff used and the data report.
    """
    given_cutoff = parse_timestamp(as_of) if as_of is not None else None
    check_table_suffix(out)
    refuse_outputs_over_inputs([out], [*table_inputs(data_dir, TABLES), rules_path, mapping_path])
    scorecard = load_scorecard(rules_path)
    mapping = load_yaml_model(mapping_path, DataMapping) if mapping_path else DataMapping()
    data = load_data(data_dir, mapping, require_leads=False)
    cutoff = given_cutoff if given_cutoff is not None else default_as_of(data)
    data.report.extend(future_cutoff_warning(cutoff, data.clock))
    table = score_leads(data, scorecard, cutoff)
    write_table(table, out)
    return len(table), cutoff.isoformat(), data.report


def rules_score_lead_table_to_file(rules_path: Path, data_path: Path | None, out: Path,
                                   config_path: Path | None) -> int:
    """Score every lead of a lead-level table (the config's `lead_table` section) by the
    scorecard at `rules_path` and write the table to `out`; returns the number of rows."""
    from leadq.features.lead_table import resolve_path
    from leadq.rules.lead_table import score_lead_table_rules

    check_table_suffix(out)
    config = load_config(config_path)
    source = resolve_path(config, data_path) if config.lead_table is not None else data_path
    refuse_outputs_over_inputs([out], [source, rules_path, config_path])
    table = score_lead_table_rules(config, data_path, load_scorecard(rules_path))
    write_table(table, out)
    return len(table)


def write_scorecard(learned: LearnedScorecard, out: Path) -> Path:
    """Write the learned scorecard YAML atomically (loadable by `leadq.rules.scorecard.load_scorecard`)."""
    out = Path(out)
    with atomic_path(out) as tmp:
        tmp.write_text(learned.to_yaml(), encoding="utf-8")
    return out


def learn_to_file(
    out: Path,
    data_dir: Path | None = None,
    config_path: Path | None = None,
    target: str | None = None,
    rules_path: Path | None = None,
    max_points: int = 30,
) -> LearnedScorecard:
    """The `rules learn` step: load config and data, fit the learned scorecard, write its YAML.

    The reference scorecard (`rules_path`, optional) only lends its decay half-life and
    inactivity days.
    """
    config = load_config(config_path)
    folder = resolve_data_dir(data_dir, config)
    refuse_outputs_over_inputs([out], [*table_inputs(folder, TABLES), config_path, rules_path])
    reference = load_scorecard(rules_path) if rules_path is not None else None
    data = load_data(folder, config.data.mapping)
    learned = learn_scorecard(data, config, target, reference, max_points)
    write_scorecard(learned, out)
    return learned
