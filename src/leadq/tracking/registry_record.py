"""The registry explains itself: descriptions and tags written to MLflow, and read back.

`describe_registration` runs after the quality gate of every training; `promote_by_hand` is
`leadq promote`; `versions_overview` is what `leadq models` shows. The words and tag names are
`leadq.tracking.registry_text`'s.
"""

import getpass
import hashlib

import pandas as pd

from leadq.tracking.registry import list_versions, promote
from leadq.tracking.registry_text import (
    INCOMPLETE,
    NOT_PROMOTED,
    PROMOTED,
    PROMOTED_AT,
    PROMOTED_BY,
    TrainingFacts,
    clip_description,
    gate_reason,
    gate_verdict,
    model_description,
    promotion_line,
    promotion_tags,
    realized_figures,
    version_description,
    version_tags,
)
from leadq.tracking.store import client

DESCRIPTION_HASH_TAG = "leadq.description_sha256"
"""Registered-model tag: the hash of the description leadq last wrote. A description that no
longer matches it was edited by someone, and leadq leaves it alone."""


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def describe_model(facts: TrainingFacts, tracking_uri: str) -> bool:
    """Write the registered model's description when it is empty or leadq wrote it and the
    configuration changed its text; returns whether it was written. A description someone
    edited by hand is kept."""
    mlflow_client = client(tracking_uri)
    model = mlflow_client.get_registered_model(facts.model_name)
    text = clip_description(model_description(facts))
    current = model.description or ""
    written = (model.tags or {}).get(DESCRIPTION_HASH_TAG)
    edited_by_hand = bool(current) and written != _sha256(current)
    if current == text or edited_by_hand:
        return False
    mlflow_client.update_registered_model(facts.model_name, description=text)
    mlflow_client.set_registered_model_tag(facts.model_name, DESCRIPTION_HASH_TAG, _sha256(text))
    return True


def describe_registration(facts: TrainingFacts, version: str, promoted: bool, reason: str,
                          tracking_uri: str) -> None:
    """Record what a new version is: its tags (data, held-out figures, the gate's verdict and
    reason), its description, and the registered model's description when the configuration
    changed it."""
    mlflow_client = client(tracking_uri)
    name = facts.model_name
    verdict = PROMOTED if promoted else NOT_PROMOTED
    for key, value in version_tags(facts, verdict, reason).items():
        mlflow_client.set_model_version_tag(name, version, key, value)
    mlflow_client.update_model_version(name, version,
                                       description=version_description(facts, version, verdict, reason))
    describe_model(facts, tracking_uri)


def current_user() -> str:
    """Who runs this process: the login name ($LOGNAME, $USER, ...), else the uid's name."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no such variables and no passwd entry (some containers)
        return "unknown"


def promote_by_hand(name: str, version: str, tracking_uri: str, user: str | None = None,
                    when: pd.Timestamp | None = None) -> str | None:
    """`leadq promote`: make `version` the champion, and record on it who did it and when (tags
    and a description line). Returns the previous champion's version (None if there was none)."""
    previous = promote(name, version, tracking_uri)
    who = user or current_user()
    stamp = (when if when is not None else pd.Timestamp.now(tz="UTC")).tz_convert("UTC")
    when_utc = stamp.strftime("%Y-%m-%d %H:%M:%S UTC")
    mlflow_client = client(tracking_uri)
    for key, value in promotion_tags(who, when_utc, previous).items():
        mlflow_client.set_model_version_tag(name, str(version), key, value)
    description = mlflow_client.get_model_version(name, str(version)).description or ""
    line = promotion_line(who, when_utc, previous)
    text = f"{description}\n\n{line}" if description else line
    mlflow_client.update_model_version(name, str(version), description=clip_description(text))
    return previous


def versions_overview(name: str, tracking_uri: str) -> pd.DataFrame:
    """One row per version, what `leadq models` shows: version, aliases, created_at, gate
    ('promoted', 'not promoted' or 'incomplete'), reason, promoted_by, promoted_at,
    data_range, fingerprint (of the training data), realized (monitoring's latest figures) and
    the run's key test metrics (`test_roc_auc_<target>`, ...)."""
    listed = list_versions(name, tracking_uri)
    rows = []
    for record in listed.to_dict("records"):
        tags, run_tags = record.pop("tags"), record.pop("run_tags")
        version = str(record["version"])
        rows.append({
            "version": record.pop("version"),
            "aliases": record.pop("aliases"),
            "created_at": record.pop("created_at"),
            "gate": gate_verdict(tags, run_tags, version),
            "reason": gate_reason(tags, run_tags, version),
            "promoted_by": tags.get(PROMOTED_BY, ""),
            "promoted_at": tags.get(PROMOTED_AT, ""),
            "data_range": tags.get("data.range", ""),
            "fingerprint": tags.get("data.fingerprint", ""),
            "realized": realized_figures(tags),
            **record,
        })
    return pd.DataFrame(rows)


def incomplete_versions(overview: pd.DataFrame) -> list[int]:
    """Versions registered without a recorded gate decision (and not promoted by hand)."""
    if overview.empty:
        return []
    rows = overview[(overview["gate"] == INCOMPLETE) & (overview["promoted_by"] == "")]
    return [int(v) for v in rows["version"]]
