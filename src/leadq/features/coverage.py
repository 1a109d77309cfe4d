"""What the training data can teach: features that hold one value everywhere are left out.

Real exports never have all twelve canonical event types, often lack optional columns (no
durations, no pages) and carry attributes nobody fills in. The features they feed are constant
over the training examples: they teach a model nothing, and an all-missing column is more than
some estimators accept (gradient boosting cannot bin it). `drop_constant_features` takes them
out of the feature spec the model is trained, logged and scored with, so scoring needs only
what training used, and says why in one warning line per cause:

- an event type with no events: its counts, recency and time columns (the `other` group's
  counts go without a word: most data have no events outside the canonical types);
- an optional event column that is absent or empty: the features read from it;
- an attribute empty in every row, or with one value in every row;
- any other feature with one value over all training examples.

Constant means one value and no missing value, or missing everywhere: a column that is
sometimes missing and otherwise one value still tells the missing rows apart.
"""

import numpy as np
import pandas as pd

from leadq.core.errors import BadInputError
from leadq.features.spec import FeatureSpec

EVENT_COLUMN_FEATURES = {
    "duration_s": ("time_on_",),
    "page": ("distinct_pages",),
    "content_id": ("distinct_content",),
}
MAX_NAMED = 12


def constant_columns(frame: pd.DataFrame, columns: list[str]) -> dict[str, object]:
    """Columns of `frame` with at most one state (one value and no missing, or all missing),
    with that value (None: all missing)."""
    out: dict[str, object] = {}
    for name in columns:
        values = frame[name]
        missing = values.isna().to_numpy()
        if missing.all():
            out[name] = None
        elif not missing.any():
            first = values.iloc[0]
            if values.dtype == object:
                if (values == first).all():
                    out[name] = first
            elif np.all(values.to_numpy() == first):
                out[name] = first
    return out


def _type_features(spec: FeatureSpec, event_type: str) -> list[str]:
    names = [f"{event_type}_{w}" for w in spec.window_labels()]
    if event_type in spec.recency_types:
        names += [f"days_since_last_{event_type}", f"no_{event_type}"]
    if event_type in spec.duration_types:
        names.append(f"time_on_{event_type}_s_sum")
    return names


def _named(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMED])
    return shown + (f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else "")


def drop_constant_features(examples: pd.DataFrame, spec: FeatureSpec, event_columns: list[str] | None = None,
                           source: str = "training examples") -> tuple[FeatureSpec, list[str]]:
    """The spec without the features constant over `examples`, and the warning lines.

    Constant attributes leave the spec's attribute lists; other features join its
    `exclude_features`. `event_columns` lists the optional event columns the data has (None:
    all of them). Returns `spec` itself when nothing is constant."""
    columns = spec.feature_columns()
    constant = constant_columns(examples, columns)
    if not constant:
        return spec, []
    lines: list[str] = []
    explained: set[str] = set()
    n = len(examples)

    other = spec.count_groups()[-1]
    if constant.get(f"{other}_all") == 0:  # no event outside the spec's types: nothing to say
        explained.update(c for c in _type_features(spec, other) if c in constant)
    silent = [t for t in spec.count_groups()[:-1] if f"{t}_all" in constant and constant[f"{t}_all"] == 0]
    if silent:
        names = [c for t in silent for c in _type_features(spec, t) if c in constant]
        explained.update(names)
        lines.append(f"{source}: no events of type(s) {', '.join(silent)} in {n} examples: their {len(names)} "
                     "features are not used")
    present = set(event_columns) if event_columns is not None else set(EVENT_COLUMN_FEATURES)
    for column, prefixes in EVENT_COLUMN_FEATURES.items():
        names = [c for c in constant if c not in explained and c.startswith(prefixes)]
        if names:
            how = "absent from the events" if column not in present else "empty in every event"
            explained.update(names)
            lines.append(f"{source}: event column '{column}' is {how}: {_named(names)} not used")
    for name in [*spec.numeric_attributes, *spec.categorical_attributes]:
        if name in constant:
            value = constant[name]
            how = "empty in every row" if value is None else f"'{value}' in every row"
            lines.append(f"{source}: attribute '{name}' is {how}: not used")
            explained.add(name)
    rest = [c for c in columns if c in constant and c not in explained]
    if rest:
        lines.append(f"{source}: {len(rest)} features hold one value in all {n} examples and are not used: "
                     f"{_named(rest)}")
    attributes = set(spec.numeric_attributes) | set(spec.categorical_attributes)
    dropped = [c for c in columns if c in constant]
    if len(dropped) == len(columns):
        raise BadInputError(f"{source}: every feature holds one value in all {n} examples ({len(columns)} "
                            "features): there is nothing to learn from")
    pruned = spec.model_copy(update={
        "numeric_attributes": [c for c in spec.numeric_attributes if c not in constant],
        "categorical_attributes": [c for c in spec.categorical_attributes if c not in constant],
        "exclude_features": [*spec.exclude_features, *[c for c in dropped if c not in attributes]],
    })
    return pruned, lines
