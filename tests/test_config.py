"""Pipeline config: defaults written out in full, and one-line errors that name the key."""

from pathlib import Path

import pytest

from leadq.config import PipelineConfig, load_config, parse_config
from leadq.core.errors import BadInputError

DEFAULT_YAML = Path(__file__).resolve().parents[1] / "pipelines" / "default.yaml"


def test_default_yaml_writes_out_every_default():
    assert load_config(DEFAULT_YAML) == PipelineConfig()
    assert load_config(None) == PipelineConfig()


def test_defaults_are_the_documented_ones():
    config = PipelineConfig()
    assert config.data.dir == "data/demo"
    assert config.targets == ["mql", "sql"]
    assert config.horizon_days == 30 and config.snapshots.cadence_days == 7
    assert config.registry.model_name == "lead-quality"
    assert config.registry.promotion_metric == "test_log_loss_sql"
    assert config.tracking_uri is None
    assert config.gap_days() == 30


def _error(raw: dict, tmp_path: Path, text: str | None = None) -> str:
    path = tmp_path / "x.yaml"
    if text is None:
        import yaml

        text = yaml.safe_dump(raw)
    path.write_text(text)
    with pytest.raises(BadInputError) as info:
        load_config(path)
    message = info.value.message
    assert "\n" not in message and message.startswith(str(path))
    return message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"model": {"foo": 1}}, "unknown key 'model'"),
        ({"candidates": {"logistic": {"foo": 1}}}, "unknown key 'candidates.logistic.foo'"),
        ({"horizon_days": 0}, "'horizon_days': must be > 0"),
        ({"snapshots": {"cadence_days": -1}}, "'snapshots.cadence_days': must be > 0"),
        ({"candidates": {"calibration": "platt"}}, "'candidates.calibration'"),
        ({"split": {"train": 0.5, "validation": 0.2, "test": 0.2}}, "must be 1"),
        ({"split": {"gap_days": 10}}, "gap_days (10) must be >= horizon_days (30)"),
        ({"registry": {"promotion_metric": "test_log_loss_customer"}}, "'customer'"),
        ({"features": {"windows_days": "weekly"}}, "'features.windows_days'"),
    ],
)
def test_errors_name_the_key(raw, expected, tmp_path):
    assert expected in _error(raw, tmp_path)


def test_bad_yaml_and_missing_file_are_one_line(tmp_path):
    assert "not valid YAML" in _error({}, tmp_path, text="targets: [mql\nseed: 1\n")
    assert "mapping" in _error({}, tmp_path, text="- just\n- a list\n")
    with pytest.raises(BadInputError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_partial_override_keeps_other_defaults():
    config = parse_config({"features": {"windows_days": [14]}, "candidates": {"logistic": {"C": 2}}})
    assert config.features.windows_days == [14]
    assert config.features.session_gap_minutes == 30.0
    assert config.candidates.logistic.C == 2
    assert config.candidates.hist_gradient_boosting.enabled


def test_ablation_config_keeps_only_what_a_scorecard_sees():
    config = load_config(DEFAULT_YAML.parent / "ablation.yaml")
    kept = [c for c in config.features.feature_columns() if c in config.features.engagement_columns()]
    assert kept, "the ablation keeps the all-time counts"
    for name in kept:
        assert not name.endswith(("_7d", "_30d", "_90d")), name
        assert not name.startswith(("days_since_", "no_", "sessions_", "active_days_", "trend_", "journey")), name
        assert "_returns_" not in name, name
    assert {"pricing_view_all", "events_all", "time_on_site_s_sum"} <= set(kept)
    assert config.registry.model_name != load_config(DEFAULT_YAML).registry.model_name
