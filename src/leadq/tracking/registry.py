"""The model registry: versions, the `challenger` and `champion` aliases, and the quality gate.

A new version always gets `challenger`. It takes `champion` only when there is none, or when it
beats the champion on the challenger's own test examples (the champion is scored on the same
feature table) by `registry.margin` on `registry.promotion_metric`; or by an explicit
`promote`.
"""

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from leadq.core.errors import BadInputError, ModelNotFoundError
from leadq.core.model_refs import check_model_name, check_version_or_alias
from leadq.models.metrics import binary_metrics, lower_is_better
from leadq.tracking.store import client

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class GateDecision:
    """The quality gate's verdict for one new version, with both numbers it compared."""

    version: str
    promoted: bool
    metric: str
    challenger_value: float
    champion_value: float | None
    champion_version: str | None
    margin: float
    reason: str

    def as_tags(self) -> dict[str, str]:
        """The decision as `leadq.gate.*` run tags."""
        return {f"leadq.gate.{k}": "" if v is None else str(v) for k, v in asdict(self).items()}


def parse_metric(metric: str) -> tuple[str, str, str]:
    """'test_log_loss_sql' -> ('test', 'log_loss', 'sql')."""
    window, rest = metric.split("_", 1)
    name, target = rest.rsplit("_", 1)
    return window, name, target


def _mlflow_error_is_missing(exc: Exception) -> bool:
    return "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or "not found" in str(
        exc
    ).lower()


def _registered_names(tracking_uri: str) -> list[str]:
    return sorted(m.name for m in client(tracking_uri).search_registered_models())


def _require_model(name: str, tracking_uri: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client(tracking_uri).get_registered_model(name)
    except MlflowException as exc:
        if not _mlflow_error_is_missing(exc):
            raise
        names = ", ".join(_registered_names(tracking_uri)) or "none"
        raise ModelNotFoundError(
            f"no registered model '{name}' at {tracking_uri}; registered models: {names}"
        ) from None


def _versions(name: str, tracking_uri: str) -> list:
    found = client(tracking_uri).search_model_versions(f"name='{name}'")
    return sorted(found, key=lambda mv: int(mv.version))


def _aliases(name: str, tracking_uri: str) -> dict[str, str]:
    return dict(client(tracking_uri).get_registered_model(name).aliases or {})


def _describe_versions(name: str, tracking_uri: str) -> str:
    versions = [str(mv.version) for mv in _versions(name, tracking_uri)]
    aliases = _aliases(name, tracking_uri)
    alias_text = ", ".join(f"@{a} -> {v}" for a, v in sorted(aliases.items())) or "no aliases"
    return f"versions: {', '.join(versions) or 'none'}; {alias_text}"


def register_version(model_uri: str, name: str, tracking_uri: str) -> str:
    """Register a logged model as a new version of `name` with alias `challenger`; returns it."""
    import mlflow

    from leadq.tracking.store import use_tracking_uri

    with use_tracking_uri(tracking_uri):
        version = mlflow.register_model(model_uri, name).version
    client(tracking_uri).set_registered_model_alias(name, CHALLENGER, str(version))
    return str(version)


def model_version(name: str, ref: str, tracking_uri: str):
    """The ModelVersion for a version number or an alias; ModelNotFoundError lists what exists."""
    from mlflow.exceptions import MlflowException

    _require_model(name, tracking_uri)
    mlflow_client = client(tracking_uri)
    try:
        if str(ref).isdigit():
            return mlflow_client.get_model_version(name, str(ref))
        return mlflow_client.get_model_version_by_alias(name, str(ref))
    except MlflowException as exc:
        if not _mlflow_error_is_missing(exc):
            raise
        kind = "version" if str(ref).isdigit() else "alias"
        raise ModelNotFoundError(
            f"model '{name}' has no {kind} '{ref}'; {_describe_versions(name, tracking_uri)}"
        ) from None


def resolve_model_uri(model_uri: str, tracking_uri: str) -> str:
    """Check a `models:/name@alias` or `models:/name/version` URI exists (other URIs pass)."""
    if not model_uri.startswith("models:/"):
        return model_uri
    rest = model_uri.removeprefix("models:/")
    if "@" in rest:
        name, ref = rest.split("@", 1)
    elif "/" in rest:
        name, ref = rest.rsplit("/", 1)
    else:
        return model_uri  # a logged model id such as models:/m-...
    model_version(name, ref, tracking_uri)
    return model_uri


def missing_columns_note(champion_version: str, missing: list[str]) -> str:
    """Why the champion cannot be scored on data lacking `missing` columns (the first five named)."""
    more = " ..." if len(missing) > 5 else ""
    return (f"champion v{champion_version} needs {len(missing)} column(s) this data cannot provide "
            f"({', '.join(missing[:5])}{more})")


def score_champion_on(
    examples: pd.DataFrame, name: str, tracking_uri: str, metric: str
) -> tuple[float | None, str | None, str]:
    """The champion's value of `metric` on `examples` (a test feature table with labels).

    Returns (value, champion_version, note); value is None when there is no champion, or
    when the champion needs feature columns these examples lack (the note says which).
    """
    import mlflow

    from leadq.tracking.pyfunc import load_model_artifacts
    from leadq.tracking.store import use_tracking_uri

    from mlflow.exceptions import MlflowException

    mlflow_client = client(tracking_uri)
    try:
        champion = mlflow_client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None, None, "no champion yet"
    champion_version = str(champion.version)
    _, metric_name, target = parse_metric(metric)
    uri = f"models:/{name}@{CHAMPION}"
    with use_tracking_uri(tracking_uri):
        artifacts = load_model_artifacts(uri, tracking_uri=tracking_uri)
        missing = [c for c in artifacts.spec.feature_columns() if c not in examples.columns]
        if missing:
            return None, champion_version, missing_columns_note(champion_version, missing)
        if target not in artifacts.targets:
            return None, champion_version, f"champion v{champion_version} has no '{target}' target"
        rows = examples[examples[f"label_{target}"].notna()]
        scores = mlflow.pyfunc.load_model(uri).predict(rows[artifacts.spec.feature_columns()])
    value = binary_metrics(rows[f"label_{target}"].to_numpy(dtype=float),
                           np.asarray(scores[f"p_{target}"], dtype=float))[metric_name]
    return float(value), champion_version, f"champion v{champion_version}"


def decide(
    version: str, metric: str, challenger_value: float, champion_value: float | None,
    champion_version: str | None, margin: float, note: str,
) -> GateDecision:
    """Promote when there is no champion to compare with a usable score, or when the
    challenger beats it by more than `margin` (direction from the metric's name)."""
    if champion_version is None:
        return GateDecision(version, True, metric, challenger_value, None, None, margin,
                            "no champion yet: the first version becomes champion")
    if champion_value is None:
        return GateDecision(version, False, metric, challenger_value, None, champion_version,
                            margin, f"not promoted: {note}")
    if math.isnan(challenger_value):
        return GateDecision(version, False, metric, challenger_value, champion_value,
                            champion_version, margin, f"not promoted: {metric} is undefined")
    lower = lower_is_better(metric)
    gain = (champion_value - challenger_value) if lower else (challenger_value - champion_value)
    promoted = bool(gain > margin)
    verdict = "promoted" if promoted else "not promoted"
    ours, theirs = _distinct_figures(challenger_value, champion_value)
    if lower:
        comparison = f"{'<' if promoted else '>='} champion v{champion_version} {theirs} - margin {margin:g}"
    else:
        comparison = f"{'>' if promoted else '<='} champion v{champion_version} {theirs} + margin {margin:g}"
    reason = f"{verdict}: {metric} {ours} {comparison}"
    return GateDecision(version, promoted, metric, challenger_value, champion_value,
                        champion_version, margin, reason)


def _distinct_figures(a: float, b: float) -> tuple[str, str]:
    """Both numbers with 4 decimals, or as many more (up to 10) as it takes to tell them apart."""
    for decimals in range(4, 11):
        text_a, text_b = f"{a:.{decimals}f}", f"{b:.{decimals}f}"
        if text_a != text_b:
            return text_a, text_b
    return f"{a:.4f}", f"{b:.4f}"


def run_gate(
    version: str, test_examples: pd.DataFrame, challenger_value: float, name: str,
    metric: str, margin: float, tracking_uri: str,
) -> GateDecision:
    """Compare the new version with the champion on the same test examples; move the
    `champion` alias when the gate passes. Returns the decision (nothing printed)."""
    champion_value, champion_version, note = score_champion_on(
        test_examples, name, tracking_uri, metric
    )
    decision = decide(version, metric, challenger_value, champion_value, champion_version,
                      margin, note)
    if decision.promoted:
        client(tracking_uri).set_registered_model_alias(name, CHAMPION, version)
    return decision


def resolve_version(name: str, version_or_alias: str, tracking_uri: str) -> str:
    """The version number a number or an alias (`challenger`) names; one-line errors for a bad
    name or reference (exit 2) or a missing one (exit 3, listing what exists)."""
    check_model_name(name)
    ref = check_version_or_alias(str(version_or_alias))
    return str(model_version(name, ref, tracking_uri).version)


def promote(name: str, version: str, tracking_uri: str) -> str | None:
    """Make `version` (a number, or an alias such as `challenger`: the version it points to) the
    champion, an explicit override of the gate; returns the previous champion."""
    resolved = resolve_version(name, version, tracking_uri)
    previous = _aliases(name, tracking_uri).get(CHAMPION)
    previous = None if previous is None else str(previous)
    client(tracking_uri).set_registered_model_alias(name, CHAMPION, resolved)
    return previous


def list_versions(name: str, tracking_uri: str) -> pd.DataFrame:
    """One row per version: version, aliases, created_at (UTC), run_id, the version's tags
    (`tags`), the run's `leadq.*` tags (`run_tags`) and the run's test metrics
    (`test_roc_auc_*`, `test_pr_auc_*`, `test_log_loss_*`)."""
    check_model_name(name, "--name")
    _require_model(name, tracking_uri)
    mlflow_client = client(tracking_uri)
    aliases = _aliases(name, tracking_uri)
    rows = []
    for mv in _versions(name, tracking_uri):
        row = {
            "version": int(mv.version),
            "aliases": ", ".join(sorted(a for a, v in aliases.items() if str(v) == str(mv.version))),
            "created_at": pd.Timestamp(mv.creation_timestamp, unit="ms", tz="UTC"),
            "run_id": mv.run_id,
            "tags": dict(mv.tags or {}),
            "run_tags": {},
        }
        if mv.run_id:
            run = mlflow_client.get_run(mv.run_id)
            row["run_tags"] = {k: v for k, v in run.data.tags.items() if k.startswith("leadq.")}
            metrics = run.data.metrics
            for key in sorted(metrics):
                if key.startswith(("test_roc_auc_", "test_pr_auc_", "test_log_loss_")):
                    row[key] = metrics[key]
        rows.append(row)
    return pd.DataFrame(rows)


def require_promotable(metric: str, targets: list[str]) -> None:
    """Fail early when the promotion metric names a target that is not trained."""
    _, _, target = parse_metric(metric)
    if target not in targets:
        raise BadInputError(f"registry.promotion_metric '{metric}' names untrained target '{target}'")
