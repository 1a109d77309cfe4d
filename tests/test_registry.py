"""MLflow logging, the registry aliases and the quality gate, on a store under tmp_path."""

import mlflow
import numpy as np
import pandas as pd
import pytest

from leadq.config import PipelineConfig
from leadq.core.errors import ModelNotFoundError
from leadq.features.spec import FeatureSpec
from leadq.tracking.pyfunc import load_model_artifacts
from leadq.tracking.registry import CHAMPION, list_versions, model_version, promote, resolve_model_uri, score_champion_on
from leadq.tracking.store import artifact_location, client, use_tracking_uri
from leadq.models.train import train_models
from leadq.tracking.training_run import log_training, register_and_gate

NAME = "lead-quality"
STRONG = FeatureSpec(include_engagement=False, numeric_attributes=["pricing_views", "noise"],
                     categorical_attributes=["source"])
# The weak model never sees the signal column.
WEAK = STRONG.model_copy(update={"exclude_features": ["pricing_views"]})


def _examples(n_leads: int = 150, n_cutoffs: int = 30, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n_cutoffs):
        pricing = rng.poisson(1.2, n_leads).astype(float)
        source = rng.choice(["Referral", "Google Ads", None], n_leads, p=[0.4, 0.5, 0.1])
        p = 1 / (1 + np.exp(-(-2.8 + 1.3 * pricing)))
        mql = (rng.random(n_leads) < p).astype(float)
        frames.append(pd.DataFrame({
            "lead_id": [f"L{k}_{i}" for i in range(n_leads)],
            "cutoff": pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(weeks=k),
            "lead_age_days": rng.uniform(0, 200, n_leads), "pricing_views": pricing,
            "noise": rng.normal(size=n_leads), "source": source,
            "label_mql": mql, "label_sql": ((rng.random(n_leads) < 0.6) & (mql == 1)).astype(float),
        }))
    return pd.concat(frames, ignore_index=True)


def _config(spec: FeatureSpec, margin: float = 0.001) -> PipelineConfig:
    return PipelineConfig(features=spec, candidates={
        "hist_gradient_boosting": {"enabled": False}, "importance_rows": 200,
    }, registry={"margin": margin})


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store with a weak and a strong logged run; cwd moved so stray ./mlruns would show."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'store' / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        examples = _examples()
        logged = {}
        for label, spec in (("weak", WEAK), ("strong", STRONG)):
            result = train_models(examples, spec, _config(spec))
            run_id, model_uri, _ = log_training(result, _config(spec), uri, fingerprint={"rows": 1},
                                                data_report=["dropped 0 rows"])
            logged[label] = (result, run_id, model_uri)
        yield {"uri": uri, "root": root, **logged}


def _register(store, label, margin=0.001):
    result, run_id, model_uri = store[label]
    return register_and_gate(result, _config(result.spec, margin), run_id, model_uri, store["uri"])


def test_gate_sequence(store):
    uri = store["uri"]
    # First version: no champion yet, so it takes the alias.
    v1, d1 = _register(store, "weak")
    assert d1.promoted and d1.champion_version is None
    # Clearly better on the same test window: promoted, with both numbers reported.
    v2, d2 = _register(store, "strong")
    assert d2.promoted and d2.champion_version == v1
    assert d2.challenger_value < d2.champion_value - d2.margin
    # Worse: not promoted; champion stays.
    v3, d3 = _register(store, "weak")
    assert not d3.promoted and d3.challenger_value > d3.champion_value
    # Identical model, within the margin: not promoted.
    v4, d4 = _register(store, "strong", margin=0.01)
    assert not d4.promoted and abs(d4.challenger_value - d4.champion_value) < 1e-9
    mlflow_client = client(uri)
    assert str(mlflow_client.get_model_version_by_alias(NAME, CHAMPION).version) == v2
    assert str(mlflow_client.get_model_version_by_alias(NAME, "challenger").version) == v4
    tags = mlflow_client.get_run(store["weak"][1]).data.tags
    assert tags["leadq.gate.promoted"] == "False" and tags["leadq.gate.metric"] == "test_log_loss_sql"

    table = list_versions(NAME, uri)
    assert list(table["version"]) == [1, 2, 3, 4]
    assert table.set_index("version").loc[2, "aliases"] == "champion"
    assert "test_roc_auc_sql" in table.columns and "created_at" in table.columns

    # Explicit promotion overrides the gate.
    assert promote(NAME, v1, uri) == v2
    assert str(mlflow_client.get_model_version_by_alias(NAME, CHAMPION).version) == v1
    promote(NAME, v2, uri)


def test_champion_needing_absent_columns_is_not_compared(store):
    if not client(store["uri"]).search_registered_models():
        _register(store, "strong")
    result = store["strong"][0]
    value, version, note = score_champion_on(
        result.test_examples.drop(columns=["noise"]), NAME, store["uri"], "test_log_loss_sql"
    )
    assert value is None and version is not None and "noise" in note


def test_run_holds_params_metrics_plots_config_and_model(store):
    mlflow_client = client(store["uri"])
    run = mlflow_client.get_run(store["strong"][1])
    assert run.data.params["horizon_days"] == "30" and "split.train_cutoffs" in run.data.params
    assert {"val_roc_auc_sql", "test_log_loss_mql", "test_ece_sql"} <= set(run.data.metrics)
    top = {a.path for a in mlflow_client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "feature_spec.json", "data_fingerprint.json", "plots"} <= top
    plots = {a.path for a in mlflow_client.list_artifacts(run.info.run_id, "plots")}
    assert {f"plots/{k}_{t}.png" for k in ("roc", "pr", "calibration", "gain", "importance")
            for t in ("mql", "sql")} == plots
    # Artifacts live next to the database, and nothing went to ./mlruns.
    assert run.info.artifact_uri.startswith(artifact_location(store["uri"]))
    assert not (store["root"] / "mlruns").exists()


def test_champion_loads_and_predicts_as_pyfunc(store):
    uri = store["uri"]
    if not client(uri).search_registered_models():
        _register(store, "strong")
    result = store["strong"][0]
    features = result.test_examples[result.spec.feature_columns()].head(20).copy()
    features.loc[features.index[:3], "source"] = [None, "brand new source", "  referral "]
    features["extra"] = 1
    with use_tracking_uri(uri):
        model = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
        scored = model.predict(features)
    assert list(scored.columns) == ["p_mql", "p_sql"]
    assert np.isfinite(scored.to_numpy()).all() and len(scored) == 20
    artifacts = load_model_artifacts(f"models:/{NAME}@champion", tracking_uri=uri)
    assert artifacts.targets == ["mql", "sql"]
    assert artifacts.spec.feature_columns() == result.spec.feature_columns() or artifacts.spec.feature_columns()
    assert set(artifacts.reference["scores"]) == {"p_mql", "p_sql"}
    with use_tracking_uri(uri), pytest.raises(Exception, match="pricing_views"):
        model.predict(features.drop(columns=["pricing_views"]))


def test_missing_names_list_what_exists(store):
    uri = store["uri"]
    if not client(uri).search_registered_models():
        _register(store, "strong")
    with pytest.raises(ModelNotFoundError, match="registered models: lead-quality"):
        list_versions("nope", uri)
    with pytest.raises(ModelNotFoundError, match="no version '99'.*versions: 1"):
        model_version(NAME, "99", uri)
    with pytest.raises(ModelNotFoundError, match="no alias 'staging'.*@challenger"):
        resolve_model_uri(f"models:/{NAME}@staging", uri)
    assert resolve_model_uri(f"models:/{NAME}@challenger", uri)
