"""The cross-validated quality gate and the promotion metric's check, against a registry made by
hand (a stand-in client holding the champion and its run; no MLflow store, no training)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from leadq.config import PipelineConfig
from leadq.core.errors import BadInputError
from leadq.features.spec import FeatureSpec
from leadq.models.train import TargetModel, TrainResult
from leadq.tracking import training_run
from leadq.tracking.training_run import DATA_HASH_TAG, register_and_gate

NAME = "cv-gate"
METRIC = "test_log_loss_won"
NOT_COMPARABLE = ("was not cross-validated on the same data, so the two cannot be compared; use "
                  "`leadq promote` to decide")


class Registry:
    """What the gate asks a tracking client: the champion alias, a run's metrics and tags; and
    where it moves the alias."""

    def __init__(self, champion=None, runs=None):
        self.champion = champion
        self.runs = runs or {}
        self.aliases = {}

    def get_model_version_by_alias(self, name, alias):
        assert (name, alias) == (NAME, "champion")
        if self.champion is None:
            raise MlflowException(f"Registered model alias {alias} not found.")
        return self.champion

    def get_run(self, run_id):
        return self.runs[run_id]

    def set_registered_model_alias(self, name, alias, version):
        self.aliases[(name, alias)] = version


def _run(metrics=None, tags=None):
    return SimpleNamespace(data=SimpleNamespace(metrics=metrics or {}, tags=tags or {}))


def _config(targets=("won",), metric=METRIC, margin=0.0625):
    return PipelineConfig(targets=list(targets), registry={"model_name": NAME, "promotion_metric": metric,
                                                           "margin": margin})


def _gate(monkeypatch, registry, challenger_log_loss=0.375, challenger_hash="hash-a"):
    registry.runs["new-run"] = _run({METRIC: challenger_log_loss},
                                    {} if challenger_hash is None else {DATA_HASH_TAG: challenger_hash})
    monkeypatch.setattr(training_run, "client", lambda uri: registry)
    return training_run._gate_on_logged_metric("8", "new-run", challenger_log_loss, _config(), "uri")


def test_without_a_champion_the_first_version_is_promoted(monkeypatch):
    registry = Registry()
    decision = _gate(monkeypatch, registry)
    assert (decision.version, decision.promoted, decision.metric, decision.challenger_value, decision.champion_value,
            decision.champion_version, decision.margin) == ("8", True, METRIC, 0.375, None, None, 0.0625)
    assert decision.reason == "no champion yet: the first version becomes champion"
    assert registry.aliases == {(NAME, "champion"): "8"}


def test_a_champion_cross_validated_on_the_same_data_is_compared(monkeypatch):
    registry = Registry(SimpleNamespace(version=4, run_id="old-run"),
                        {"old-run": _run({METRIC: 0.5}, {DATA_HASH_TAG: "hash-a"})})
    decision = _gate(monkeypatch, registry)
    assert (decision.version, decision.promoted, decision.champion_value, decision.champion_version) == (
        "8", True, 0.5, "4")
    assert decision.reason == "promoted: test_log_loss_won 0.3750 < champion v4 0.5000 - margin 0.0625"
    assert registry.aliases == {(NAME, "champion"): "8"}


@pytest.mark.parametrize(("champion", "runs", "challenger_hash"), [
    (SimpleNamespace(version=4, run_id=None), {}, "hash-a"),  # a version registered without its run
    (SimpleNamespace(version=4, run_id="old-run"), {"old-run": _run({}, {DATA_HASH_TAG: "hash-a"})}, "hash-a"),
    (SimpleNamespace(version=4, run_id="old-run"), {"old-run": _run({METRIC: 0.5}, {})}, None),  # neither hashed
    (SimpleNamespace(version=4, run_id="old-run"), {"old-run": _run({METRIC: 0.5}, {})}, "hash-a"),
    (SimpleNamespace(version=4, run_id="old-run"), {"old-run": _run({METRIC: 0.5}, {DATA_HASH_TAG: "b"})}, "hash-a"),
])
def test_a_champion_not_cross_validated_on_the_same_data_is_not_compared(monkeypatch, champion, runs,
                                                                         challenger_hash):
    registry = Registry(champion, runs)
    decision = _gate(monkeypatch, registry, challenger_hash=challenger_hash)
    assert (decision.version, decision.promoted, decision.champion_value, decision.champion_version) == (
        "8", False, None, "4")
    assert decision.reason == f"not promoted: champion v4 {NOT_COMPARABLE}"
    assert registry.aliases == {}


def _result(test_metrics):
    empty = np.array([])
    target = TargetModel(target="won", model=None, chosen="logistic", candidate_log_loss={}, threshold=0.5,
                         validation={}, test=test_metrics, importances=pd.Series(dtype=float),
                         y_validation=empty, p_validation=empty, y_test=empty, p_test=empty)
    return TrainResult(targets={"won": target}, spec=FeatureSpec(), split=None, test_examples=pd.DataFrame(),
                       train_sample=pd.DataFrame(), window_rows={}, evaluation="cross_validation")


@pytest.mark.parametrize(("targets", "metric"), [
    (("won",), "test_brier_won"),  # a figure the run did not compute
    (("won", "sql"), "test_log_loss_sql"),  # a target the run did not train
])
def test_a_promotion_metric_the_run_lacks_is_one_line_before_anything_is_registered(monkeypatch, targets, metric):
    monkeypatch.setattr(training_run, "register_version", lambda *a: pytest.fail("registered"))
    with pytest.raises(BadInputError) as caught:
        register_and_gate(_result({"log_loss": 0.5}), _config(targets, metric), "run", "model", "uri")
    assert caught.value.message == f"registry.promotion_metric '{metric}' is not a test metric of this run"


def test_the_new_version_records_the_gates_verdict_and_the_data_it_was_trained_on(monkeypatch):
    """`register_and_gate` hands the version's record its verdict, reason and the data's
    fingerprint, and tags the run with the decision and the version."""
    registry = Registry()
    registry.runs["new-run"] = _run({METRIC: 0.5}, {DATA_HASH_TAG: "hash-a"})
    registry.tags = {}
    registry.set_tag = lambda run_id, key, value: registry.tags.__setitem__((run_id, key), value)
    recorded = []
    monkeypatch.setattr(training_run, "client", lambda uri: registry)
    monkeypatch.setattr(training_run, "register_version", lambda uri, name, tracking: "8")
    monkeypatch.setattr(training_run, "describe_registration", lambda *args: recorded.append(args))
    fingerprint = {"lead_table": {"rows": 1234, "sha256": "abcdef0123456789ffff"}}
    version, decision = register_and_gate(_result({"log_loss": 0.5}), _config(), "new-run", "model", "uri",
                                          fingerprint)
    assert version == "8" and decision.promoted
    [(facts, recorded_version, promoted, reason, uri)] = recorded
    assert (recorded_version, promoted, reason, uri) == (
        "8", True, "no champion yet: the first version becomes champion", "uri")
    assert (facts.data_rows, facts.fingerprint, facts.run_id) == ("1,234 rows", "abcdef0123456789", "new-run")
    assert registry.tags[("new-run", "leadq.registered_version")] == "8"
    assert registry.tags[("new-run", "leadq.gate.promoted")] == "True"
