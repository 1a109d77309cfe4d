"""MLflow logging, the registry aliases and the quality gate, on a store under tmp_path."""

import mlflow
import numpy as np
import pandas as pd
import pytest

from leadq.config import PipelineConfig
from leadq.core.errors import ModelNotFoundError
from leadq.features.spec import FeatureSpec
from leadq.tracking.pyfunc import load_model_artifacts
from leadq.tracking.registry import (CHAMPION, decide, list_versions, missing_columns_note, model_version, promote,
                            resolve_model_uri, score_champion_on)
from leadq.tracking.store import artifact_location, client, ensure_experiment, use_tracking_uri
from leadq.models.train import TargetModel, TrainResult, train_models
from leadq.tracking.training_run import DATA_HASH_TAG, log_training, register_and_gate

# The `store` tests train and log two models (slow); the gate's own tests make runs by hand.

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


def _config(spec: FeatureSpec, margin: float = 0.001, name: str = NAME) -> PipelineConfig:
    return PipelineConfig(features=spec, candidates={
        "hist_gradient_boosting": {"enabled": False}, "importance_rows": 200,
    }, registry={"margin": margin, "model_name": name})


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


@pytest.mark.slow
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


@pytest.mark.slow
def test_champion_needing_absent_columns_is_not_compared(store):
    if not client(store["uri"]).search_registered_models():
        _register(store, "strong")
    result = store["strong"][0]
    value, version, note = score_champion_on(
        result.test_examples.drop(columns=["noise"]), NAME, store["uri"], "test_log_loss_sql"
    )
    assert value is None and version is not None and "noise" in note


@pytest.mark.slow
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


@pytest.mark.slow
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
    # the registered model scores as the trained pipelines do (scikit-learn's predict_proba)
    pd.testing.assert_frame_equal(scored, result.predict(features), rtol=1e-9)
    artifacts = load_model_artifacts(f"models:/{NAME}@champion", tracking_uri=uri)
    assert artifacts.targets == ["mql", "sql"]
    assert artifacts.spec.feature_columns() == result.spec.feature_columns()
    assert set(artifacts.reference["scores"]) == {"p_mql", "p_sql"}
    with use_tracking_uri(uri), pytest.raises(Exception, match="pricing_views"):
        model.predict(features.drop(columns=["pricing_views"]))


@pytest.mark.slow
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


# --- the gate's arithmetic, and the cross-validated gate, on hand-made runs --------------------


@pytest.mark.parametrize(("metric", "challenger", "champion", "margin", "promoted"), [
    ("test_log_loss_sql", 0.25, 0.5, 0.125, True),   # lower is better: gains 0.25
    ("test_log_loss_sql", 0.375, 0.5, 0.125, False),  # gains exactly the margin: not enough
    ("test_log_loss_sql", 0.625, 0.5, 0.0, False),
    ("test_roc_auc_sql", 0.875, 0.75, 0.0625, True),   # higher is better
    ("test_roc_auc_sql", 0.8125, 0.75, 0.0625, False),
    ("test_roc_auc_sql", 0.625, 0.75, 0.0, False),
    ("test_ece_sql", 0.25, 0.5, 0.0, True),
    ("test_brier_won", 0.5, 0.25, 0.0, False),
    ("test_log_loss_sql", float("nan"), 0.300, 0.0, False),  # undefined: never promoted
])
def test_the_gate_promotes_only_a_challenger_better_by_more_than_the_margin(
        metric, challenger, champion, margin, promoted):
    decision = decide("5", metric, challenger, champion, "4", margin, "champion v4")
    assert decision.promoted is promoted
    assert (decision.version, decision.metric, decision.champion_value, decision.champion_version,
            decision.margin) == ("5", metric, champion, "4", margin)
    assert decision.reason.startswith("promoted" if promoted else "not promoted")


def test_the_gate_without_a_champion_or_a_comparable_score():
    first = decide("1", "test_log_loss_sql", 0.5, None, None, 0.0, "no champion yet")
    assert first.promoted and first.champion_value is None
    assert first.reason == "no champion yet: the first version becomes champion"
    blind = decide("2", "test_log_loss_sql", 0.1, None, "1", 0.0, "champion v1 needs 3 column(s)")
    assert not blind.promoted and blind.reason == "not promoted: champion v1 needs 3 column(s)"
    tags = blind.as_tags()
    assert tags["leadq.gate.promoted"] == "False" and tags["leadq.gate.champion_value"] == ""
    # every figure of the decision is kept, whichever way it went
    first = decide("1", "test_log_loss_sql", 0.5, None, None, 0.01, "no champion yet")
    assert (first.version, first.metric, first.challenger_value, first.champion_value, first.champion_version,
            first.margin) == ("1", "test_log_loss_sql", 0.5, None, None, 0.01)
    blind = decide("2", "test_log_loss_sql", 0.1, None, "1", 0.01, "champion v1 needs 3 column(s)")
    assert (blind.version, blind.metric, blind.challenger_value, blind.champion_value, blind.champion_version,
            blind.margin) == ("2", "test_log_loss_sql", 0.1, None, "1", 0.01)
    undefined = decide("3", "test_log_loss_sql", float("nan"), 0.3, "1", 0.01, "champion v1")
    assert (undefined.version, undefined.metric, undefined.champion_value, undefined.champion_version,
            undefined.margin) == ("3", "test_log_loss_sql", 0.3, "1", 0.01)
    assert np.isnan(undefined.challenger_value)
    assert tags["leadq.gate.champion_version"] == "1" and tags["leadq.gate.challenger_value"] == "0.1"


@pytest.mark.parametrize(("metric", "challenger", "champion", "margin", "reason"), [
    ("test_log_loss_sql", 0.25, 0.5, 0.125,
     "promoted: test_log_loss_sql 0.2500 < champion v4 0.5000 - margin 0.125"),
    ("test_log_loss_sql", 0.375, 0.5, 0.125,
     "not promoted: test_log_loss_sql 0.3750 >= champion v4 0.5000 - margin 0.125"),
    ("test_roc_auc_won", 0.875, 0.75, 0.0625,
     "promoted: test_roc_auc_won 0.8750 > champion v4 0.7500 + margin 0.0625"),
    ("test_roc_auc_won", 0.8125, 0.75, 0.0625,
     "not promoted: test_roc_auc_won 0.8125 <= champion v4 0.7500 + margin 0.0625"),
    # figures that round alike at 4 decimals get as many more as it takes to tell them apart
    ("test_log_loss_sql", 0.12341, 0.12344, 0.0,
     "promoted: test_log_loss_sql 0.12341 < champion v4 0.12344 - margin 0"),
    ("test_log_loss_sql", 0.25, 0.25, 0.0, "not promoted: test_log_loss_sql 0.2500 >= champion v4 0.2500 - margin 0"),
    ("test_log_loss_sql", float("nan"), 0.3, 0.0, "not promoted: test_log_loss_sql is undefined"),
])
def test_the_gate_says_why_with_both_figures(metric, challenger, champion, margin, reason):
    assert decide("5", metric, challenger, champion, "4", margin, "champion v4").reason == reason


def test_the_decision_as_run_tags_and_the_metric_name_parsed():
    from leadq.tracking.registry import parse_metric

    decision = decide("5", "test_roc_auc_won", 0.875, 0.75, "4", 0.0625, "champion v4")
    assert decision.as_tags() == {
        "leadq.gate.version": "5", "leadq.gate.promoted": "True", "leadq.gate.metric": "test_roc_auc_won",
        "leadq.gate.challenger_value": "0.875", "leadq.gate.champion_value": "0.75",
        "leadq.gate.champion_version": "4", "leadq.gate.margin": "0.0625",
        "leadq.gate.reason": "promoted: test_roc_auc_won 0.8750 > champion v4 0.7500 + margin 0.0625"}
    assert decide("1", "test_log_loss_sql", 0.5, None, None, 0.0, "").as_tags()["leadq.gate.champion_version"] == ""
    assert parse_metric("test_log_loss_sql") == ("test", "log_loss", "sql")
    assert parse_metric("validation_roc_auc_won") == ("validation", "roc_auc", "won")


@pytest.fixture(scope="module")
def hand_store(tmp_path_factory):
    """An MLflow store for runs made by hand (no training)."""
    root = tmp_path_factory.mktemp("gate")
    (root / "model").mkdir()
    return f"sqlite:///{root / 'mlflow.db'}", str(root / "model")


def _cross_validated(log_loss: float):
    empty = np.array([])
    target = TargetModel(target="won", model=None, chosen="logistic", candidate_log_loss={}, threshold=0.5,
                         validation={}, test={"log_loss": log_loss, "roc_auc": 0.8}, importances=pd.Series(dtype=float),
                         y_validation=empty, p_validation=empty, y_test=empty, p_test=empty)
    return TrainResult(targets={"won": target}, spec=FeatureSpec(), split=None, test_examples=pd.DataFrame(),
                       train_sample=pd.DataFrame(), window_rows={}, evaluation="cross_validation")


def _cv_run(uri: str, log_loss: float, data_hash: str | None) -> str:
    mlflow_client = client(uri)
    run_id = mlflow_client.create_run(ensure_experiment("gate", uri)).info.run_id
    mlflow_client.log_metric(run_id, "test_log_loss_won", log_loss)
    if data_hash is not None:
        mlflow_client.set_tag(run_id, DATA_HASH_TAG, data_hash)
    return run_id


def test_the_missing_columns_note_names_five_columns_then_says_there_are_more():
    assert missing_columns_note("12", ["pricing_views"]) == (
        "champion v12 needs 1 column(s) this data cannot provide (pricing_views)")
    assert missing_columns_note("3", list("abcde")) == "champion v3 needs 5 column(s) this data cannot provide (a, b, c, d, e)"
    assert missing_columns_note("3", list("abcdef")) == (
        "champion v3 needs 6 column(s) this data cannot provide (a, b, c, d, e ...)")


def test_a_model_without_a_champion_is_not_scored(hand_store):
    uri, _ = hand_store
    assert score_champion_on(pd.DataFrame(), "never-registered", uri, "test_log_loss_sql") == (
        None, None, "no champion yet")


def test_the_cross_validated_gate_compares_logged_metrics_on_the_same_data(hand_store):
    """Cross-validated runs share no test window: the champion's logged out-of-fold metric is
    compared with the challenger's only when both saw the same data (same content hash)."""
    uri, model_dir = hand_store
    name = "cv-gate"
    config = PipelineConfig(targets=["won"], registry={"model_name": name, "promotion_metric": "test_log_loss_won",
                                                       "margin": 0.0625})

    def challenger(log_loss, data_hash):
        run_id = _cv_run(uri, log_loss, data_hash)
        version, decision = register_and_gate(_cross_validated(log_loss), config, run_id, model_dir, uri)
        return run_id, version, decision

    def champion():
        return str(client(uri).get_model_version_by_alias(name, CHAMPION).version)

    _, v1, first = challenger(0.5, "hash-a")
    assert first.promoted and champion() == v1  # no champion yet
    # the champion as training leaves it: a version that knows its run
    v2 = str(client(uri).create_model_version(name, model_dir, run_id=_cv_run(uri, 0.5, "hash-a")).version)
    promote(name, v2, uri)
    _, _, worse = challenger(0.625, "hash-a")
    assert not worse.promoted and worse.champion_value == 0.5 and champion() == v2
    _, _, close = challenger(0.4375, "hash-a")  # better, by exactly the margin
    assert not close.promoted and champion() == v2
    _, _, other_data = challenger(0.125, "hash-b")
    assert not other_data.promoted and other_data.champion_value is None and champion() == v2
    assert "was not cross-validated on the same data" in other_data.reason
    _, _, unhashed = challenger(0.125, None)
    assert not unhashed.promoted and champion() == v2
    run_id, v7, better = challenger(0.375, "hash-a")
    assert better.promoted and (better.champion_value, better.champion_version) == (0.5, v2)
    assert champion() == v7 == "7"
    tags = client(uri).get_run(run_id).data.tags
    assert tags["leadq.gate.promoted"] == "True" and tags["leadq.registered_version"] == v7


@pytest.fixture(scope="module")
def small_logged(tmp_path_factory):
    """A weak and a strong model trained on tiny examples and logged as scoring models (no plots)."""
    from leadq.tracking.pyfunc import log_scoring_model

    root = tmp_path_factory.mktemp("small-gate")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    examples = _examples(n_leads=60, n_cutoffs=30)
    experiment = ensure_experiment("gate-time-split", uri)
    logged = {}
    for label, spec in (("weak", WEAK), ("strong", STRONG)):
        result = train_models(examples, spec, _config(spec))
        with use_tracking_uri(uri), mlflow.start_run(experiment_id=experiment) as run:
            info = log_scoring_model(result.models(), result.spec, result.thresholds(), result.reference, {},
                                     result.test_examples, root / label)
        logged[label] = (result, run.info.run_id, info.model_uri)
    return uri, logged


def test_time_split_gate_scores_the_champion_on_the_challengers_test_window(small_logged):
    uri, logged = small_logged
    name = "time-split-gate"

    def register(label, margin=0.001):
        result, run_id, model_uri = logged[label]
        return register_and_gate(result, _config(result.spec, margin, name), run_id, model_uri, uri)

    weak_loss = logged["weak"][0].targets["sql"].test["log_loss"]
    strong_loss = logged["strong"][0].targets["sql"].test["log_loss"]
    v1, first = register("weak")
    assert first.promoted and first.champion_version is None
    v2, better = register("strong")
    # the champion (weak) scored on the strong model's test window: its own test examples
    assert better.promoted and better.champion_version == v1 and better.challenger_value == strong_loss
    assert better.champion_value == pytest.approx(weak_loss, rel=1e-9)  # both test windows are the same here
    assert better.champion_value - better.challenger_value > 0.05
    v3, worse = register("weak")
    assert not worse.promoted and worse.champion_value == pytest.approx(strong_loss, rel=1e-9)
    v4, same = register("strong", margin=0.01)
    assert not same.promoted and same.challenger_value == pytest.approx(same.champion_value, abs=1e-12)
    mlflow_client = client(uri)
    assert str(mlflow_client.get_model_version_by_alias(name, CHAMPION).version) == v2 == "2"
    assert str(mlflow_client.get_model_version_by_alias(name, "challenger").version) == v4 == "4"
    tags = mlflow_client.get_run(logged["weak"][1]).data.tags
    assert tags["leadq.gate.promoted"] == "False" and tags["leadq.gate.metric"] == "test_log_loss_sql"
    assert tags["leadq.registered_version"] == v3 and tags["leadq.gate.version"] == v3
    # test examples without a column the champion needs: not compared, and the reason says why
    from leadq.tracking.registry import run_gate

    blind = run_gate("9", logged["strong"][0].test_examples.drop(columns=["pricing_views"]), 0.1, name,
                     "test_log_loss_sql", 0.0, uri)
    assert (blind.version, blind.promoted, blind.champion_value, blind.champion_version) == ("9", False, None, v2)
    assert blind.reason == "not promoted: champion v2 needs 1 column(s) this data cannot provide (pricing_views)"
