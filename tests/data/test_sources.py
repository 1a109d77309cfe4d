"""Bring your own export: each example mapping in pipelines/sources/ reads an export of its tool's
shape exactly as a careful hand conversion does, and trains and predicts from its YAML alone.

The exports are synthetic (`tests/source_fixtures.py`). Together they hold what real exports
lack or do differently: canonical event types with no events, absent optional columns, an
attribute empty everywhere, stage dates as lead columns instead of an outcomes table, URL and
extra-column rules, two activity files with their own column names, `;`-separated Latin-1
files with decimal commas, and epoch-second, -millisecond and -microsecond timestamps.
"""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from leadq.cli import app
from leadq.core.yaml_model import load_yaml_model
from leadq.data.load import load_data, load_frames
from leadq.data.mapping import DataMapping

from source_fixtures import WRITERS, funnel  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "pipelines" / "sources"
CLOCK = pd.Timestamp("2026-07-01", tz="UTC")
KEYS = {"leads": ["lead_id"], "events": ["lead_id", "ts", "event_type", "page"],
        "outcomes": ["lead_id", "stage", "reached_at"]}
runner = CliRunner()

# What each export lacks, as the training warnings must say it.
ABSENT = {
    "hubspot": ["no events of type(s) webinar_register, webinar_attend, feedback",
                "event column 'duration_s' is absent from the events",
                "event column 'content_id' is absent from the events",
                "attribute 'Lead Status' is empty in every row: not used"],
    "salesforce": ["no events of type(s) page_view, pricing_view, careers_view",
                   "event column 'duration_s' is absent from the events",
                   "event column 'page' is absent from the events"],
    "marketo": ["no events of type(s) feedback", "event column 'content_id' is absent from the events"],
    "ga4": ["no events of type(s) webinar_register, webinar_attend, email_open, email_click, feedback, unsubscribe",
            "event column 'duration_s' is absent from the events"],
}


def _mapping(shape: str) -> DataMapping:
    return load_yaml_model(SOURCES / f"{shape}.yaml", DataMapping)


@pytest.fixture(scope="module")
def small_funnel():
    return funnel(n_leads=250, seed=5)


@pytest.mark.parametrize("shape", sorted(WRITERS))
def test_mapping_reads_the_export_as_its_hand_conversion(tmp_path, small_funnel, shape):
    export = WRITERS[shape](tmp_path / shape, small_funnel)
    got = load_data(export.folder, _mapping(shape), clock=CLOCK)
    want = load_frames(export.leads, export.events, export.outcomes, clock=CLOCK)
    # The same policy lines (e.g. exact duplicate events: times here are whole seconds).
    assert [line.split(": ", 1)[1] for line in got.report] == [line.split(": ", 1)[1] for line in want.report]
    for table, key in KEYS.items():
        g = got.frame(table).sort_values(key).reset_index(drop=True)
        w = want.frame(table).sort_values(key).reset_index(drop=True)
        assert sorted(g.columns) == sorted(w.columns), table
        pd.testing.assert_frame_equal(g[w.columns], w, check_dtype=False, obj=f"{shape} {table}")
    assert got.numeric_attributes == want.numeric_attributes
    assert got.categorical_attributes == want.categorical_attributes
    names = [got.events.type_names[c] for c in got.events.type_code]  # what the feature engine counts
    assert sorted(names) == sorted(want.events.type_names[c] for c in want.events.type_code)


def test_every_example_mapping_is_valid_and_names_no_contract_default_by_accident():
    for shape in WRITERS:
        mapping = _mapping(shape)
        assert mapping.columns["leads"]["lead_id"] != "lead_id", shape


TRAIN_CONFIG = {
    "targets": ["sql"],
    "snapshots": {"leads_per_cutoff": 150, "cadence_days": 14},
    "candidates": {"logistic": {"enabled": False}, "hist_gradient_boosting": {"max_iter": 30},
                   "importance_rows": 100, "min_positives": 5},
    "audit": {"enabled": False},
}


def _train(folder: Path, shape: str, tmp_path: Path, name: str):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({**TRAIN_CONFIG, "registry": {"model_name": name}}))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = runner.invoke(app, ["train", "--config", str(config), "--data", str(folder), "--mapping",
                                 str(SOURCES / f"{shape}.yaml"), "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    return uri, result


def _open_leads(export, as_of: pd.Timestamp) -> set[str]:
    created = export.leads.set_index("lead_id")["created_at"]
    customers = set(export.outcomes.loc[(export.outcomes["stage"] == "customer")
                                        & (export.outcomes["reached_at"] <= as_of), "lead_id"])
    return {lead for lead, at in created.items() if at < as_of and lead not in customers}


@pytest.fixture(scope="module")
def trained_exports(tmp_path_factory):
    """Per export shape, once: the export (600 generated leads), a store and the training's
    CLI result."""
    cache = {}

    def get(shape: str):
        if shape not in cache:
            root = tmp_path_factory.mktemp(shape)
            export = WRITERS[shape](root / "export", funnel(n_leads=600, seed=3))
            uri, result = _train(export.folder, shape, root, f"{shape}-model")
            cache[shape] = (export, uri, result)
        return cache[shape]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("shape", sorted(WRITERS))
def test_each_export_trains_and_predicts_from_its_mapping_alone(tmp_path, trained_exports, shape):
    export, uri, trained = trained_exports(shape)
    warnings = [line for line in trained.output.splitlines() if line.startswith("warning:")]
    for expected in ABSENT[shape]:
        assert any(expected in line for line in warnings), (expected, warnings)
    assert "Traceback" not in trained.output

    out = tmp_path / "scores.csv"
    scored = runner.invoke(app, ["predict", "--data", str(export.folder), "--out", str(out),
                                 "--model", f"{shape}-model@champion", "--tracking-uri", uri])
    assert scored.exit_code == 0, scored.output
    scores = pd.read_csv(out, dtype={"lead_id": str})
    as_of = pd.Timestamp(scores["as_of"].iloc[0])
    assert as_of == export.events["ts"].max()
    assert set(scores["lead_id"]) == _open_leads(export, as_of)
    assert scores["p_sql"].dropna().between(0, 1).all() and scores["p_sql"].notna().any()
    report = json.loads(Path(f"{out}.report.json").read_text())
    assert report["leads_scored"] == len(scores)

    # The model's spec says what it used: nothing read from an absent column, no silent type.
    spec = _logged_spec(uri, f"{shape}-model")
    absent = {"hubspot": ("webinar_attend_", "time_on_", "distinct_content"),
              "salesforce": ("pricing_view_", "time_on_", "distinct_pages"),
              "marketo": ("feedback_", "distinct_content"),
              "ga4": ("email_open_", "time_on_")}[shape]
    assert not [c for c in spec["feature_columns"] if c.startswith(absent)]


def _logged_spec(uri: str, name: str) -> dict:
    from leadq.tracking.model_ref import load_artifacts, resolve_model_ref

    artifacts = load_artifacts(resolve_model_ref(f"{name}@champion", uri))
    return json.loads((artifacts.local_dir / "artifacts" / "feature_spec.json").read_text())


@pytest.mark.slow
def test_predict_and_compare_use_the_logged_mapping_unless_told_otherwise(tmp_path, trained_exports):
    export, uri, _ = trained_exports("hubspot")
    model = ["--model", "hubspot-model@champion", "--tracking-uri", uri]

    given = runner.invoke(app, ["predict", "--data", str(export.folder), "--out", str(tmp_path / "a.csv"),
                                "--mapping", str(SOURCES / "hubspot.yaml"), *model])
    logged = runner.invoke(app, ["predict", "--data", str(export.folder), "--out", str(tmp_path / "b.csv"), *model])
    assert given.exit_code == 0 and logged.exit_code == 0, (given.output, logged.output)
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    pd.testing.assert_frame_equal(a.drop(columns="scored_at"), b.drop(columns="scored_at"))

    contract = tmp_path / "contract.yaml"
    contract.write_text("columns: {}\n")
    wrong = runner.invoke(app, ["predict", "--data", str(export.folder), "--out", str(tmp_path / "c.csv"),
                                "--mapping", str(contract), *model])
    assert wrong.exit_code == 2 and "table 'leads' not found" in wrong.output
    assert not (tmp_path / "c.csv").exists()

    # The default scorecard names the generator's attributes; this export calls them its own way.
    rules = yaml.safe_load((ROOT / "pipelines" / "rules" / "default.yaml").read_text())
    rules["attributes"] = [{"column": "Job Title", "contains_any": ["manager", "director", "vp", "chief"], "points": 10},
                           {"column": "Number of Employees", "above": 200, "points": 10}]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    compared = runner.invoke(app, ["compare", "--out", str(tmp_path / "compare"), "--rules",
                                   str(tmp_path / "rules.yaml"), *model])
    assert compared.exit_code == 0, compared.output
    assert (tmp_path / "compare" / "report.html").is_file()


def test_no_tool_names_a_column_or_value_in_the_source_code():
    """The tools' file, column and value names live in pipelines/sources/*.yaml only."""
    contract = {"lead_id", "created_at", "ts", "event_type", "duration_s", "page", "content_id", "channel",
                "stage", "reached_at", "leads", "events", "outcomes"}
    names: set[str] = set()
    for shape in WRITERS:
        mapping = _mapping(shape)
        for table in mapping.columns.values():
            for source in table.values():
                names.update(source if isinstance(source, list) else [source])
        for source in mapping.tables.values():
            names.update(source if isinstance(source, list) else [source] if isinstance(source, str) else [])
        names.update(mapping.event_types)
        names.update(mapping.stages)
        names.update(mapping.stage_columns.values())
        names.update(mapping.exclude_columns)
        names.update(c for rule in mapping.event_rules for c in rule.when)
    # Distinctive names only: several words, capitals or underscores ("created" is plain English).
    names = {n for n in names if n not in contract and re.search(r"[ A-Z_]", n) and len(n) >= 5}
    assert len(names) > 40
    found = [(str(path.relative_to(ROOT)), name) for path in (ROOT / "src").rglob("*")
             if path.is_file() and path.suffix in (".py", ".yaml")
             for name in names if re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", path.read_text())]
    assert found == []
