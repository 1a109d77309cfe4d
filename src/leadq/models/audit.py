"""The leakage audit: before any model is fitted, find columns that predict the label almost alone.

A column written after the outcome is known (a sales note, a status the CRM sets on closing)
separates converters nearly perfectly, and a model trained with it looks brilliant and is useless.
Per candidate column and target the audit measures:

- `auc`: the column's single-feature ROC AUC, folded as max(AUC, 1 - AUC) so a column that
  predicts the label backwards counts too. Numeric columns are ranked as they are (missing values
  placed at either end, whichever separates more); categorical columns are ranked by an
  out-of-fold target-rate encoding of their normalised levels (lower case, trimmed; missing is a
  level of its own), so a level seen in one fold cannot score itself.
- `near_pure_share` (categoricals): the share of rows in near-pure levels, the levels with at
  least `min_level_rows` rows whose rate of either class is at most `purity_ratio` times that
  class's base rate (e.g. base rate 38 %: a level with under 3.8 % positives, or under 6.2 %
  negatives).

A column over either limit (`audit.max_auc`, `audit.max_near_pure_share`) stops training with one
line naming it and both figures, unless `audit.allow` lists it. The audit table is logged with
the run as `leakage_audit.csv`.
"""

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from leadq.models.candidates import CategoryNormalizer
from leadq.config import AuditConfig
from leadq.core.errors import EXIT_LEAKAGE, LeadqError

AUDIT_COLUMNS = ["target", "column", "kind", "rows", "auc", "near_pure_share", "levels", "flagged",
                 "allowed"]
AUDIT_FOLDS = 5
PRIOR_ROWS = 1.0  # pseudo-rows at the base rate added to each level's out-of-fold rate


class LeakageError(LeadqError):
    """The audit found columns that predict the label almost alone (exit code 4)."""

    def __init__(self, message: str):
        super().__init__(message, EXIT_LEAKAGE)


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC from average ranks (ties count one half); 0.5 when a class is absent."""
    y = np.asarray(y, dtype=float)
    n_pos = float(y.sum())
    n_neg = float(len(y) - n_pos)
    if n_pos == 0 or n_neg == 0:
        return 0.5
    ranks = pd.Series(np.asarray(score, dtype=float)).rank(method="average").to_numpy()
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _folded(auc: float) -> float:
    return max(auc, 1.0 - auc)


def numeric_auc(values, y) -> float:
    """Folded single-feature AUC of a numeric column, missing values at the end that separates more."""
    x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    x = np.where(np.isfinite(x), x, np.nan)
    missing = np.isnan(x)
    if missing.all():
        return 0.5
    if not missing.any():
        return _folded(roc_auc(y, x))
    low, high = np.nanmin(x) - 1.0, np.nanmax(x) + 1.0
    return max(_folded(roc_auc(y, np.where(missing, low, x))),
               _folded(roc_auc(y, np.where(missing, high, x))))


def normalised_levels(values) -> np.ndarray:
    """Category labels lower-cased and trimmed, missing ones as one explicit level."""
    column = pd.DataFrame({"v": pd.Series(values).astype(object).to_numpy()})
    return CategoryNormalizer().fit_transform(column)[:, 0]


def out_of_fold_rates(levels: np.ndarray, y: np.ndarray, seed: int, folds: int = AUDIT_FOLDS) -> np.ndarray:
    """Each row's level positive rate learned on the other folds (unseen levels: the base rate)."""
    codes, _ = pd.factorize(levels)
    y = np.asarray(y, dtype=float)
    encoded = np.empty(len(y))
    n_splits = int(min(folds, y.sum(), len(y) - y.sum()))
    if n_splits < 2:
        return np.full(len(y), y.mean() if len(y) else 0.0)
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    n_levels = codes.max() + 1
    for fit_rows, score_rows in splitter.split(codes.reshape(-1, 1), y):
        base = y[fit_rows].mean()
        count = np.bincount(codes[fit_rows], minlength=n_levels)
        positives = np.bincount(codes[fit_rows], weights=y[fit_rows], minlength=n_levels)
        rate = (positives + PRIOR_ROWS * base) / (count + PRIOR_ROWS)
        encoded[score_rows] = rate[codes[score_rows]]
    return encoded


def near_pure_share(levels: np.ndarray, y: np.ndarray, min_level_rows: int = 30,
                    purity_ratio: float = 0.1) -> float:
    """Share of rows in levels (of at least `min_level_rows` rows) whose rate of either class is
    at most `purity_ratio` times that class's base rate."""
    y = np.asarray(y, dtype=float)
    if len(y) == 0:
        return 0.0
    base = y.mean()
    stats = pd.DataFrame({"level": levels, "y": y}).groupby("level", sort=False)["y"].agg(["size", "mean"])
    big = stats["size"] >= min_level_rows
    pure = big & ((stats["mean"] <= purity_ratio * base) | (1 - stats["mean"] <= purity_ratio * (1 - base)))
    return float(stats.loc[pure, "size"].sum() / len(y))


def audit_columns(
    frame: pd.DataFrame,
    y,
    numeric: list[str],
    categorical: list[str],
    config: AuditConfig | None = None,
    seed: int = 0,
    target: str = "",
) -> pd.DataFrame:
    """The audit table for one target: a row per column with `auc`, `near_pure_share` (NaN for
    numeric columns), `levels`, `flagged` (over a limit) and `allowed` (listed in `audit.allow`).

    At most `config.max_rows` rows are used (a seeded sample), sorted by `auc`, largest first.
    """
    config = config or AuditConfig()
    y = np.asarray(y, dtype=float)
    if len(frame) > config.max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(frame), config.max_rows, replace=False))
        frame, y = frame.iloc[rows], y[rows]
    allowed = set(config.allow)
    records = []
    for name in numeric:
        auc = numeric_auc(frame[name].to_numpy(), y)
        records.append({"column": name, "kind": "numeric", "auc": auc, "near_pure_share": np.nan,
                        "levels": int(frame[name].nunique())})
    for name in categorical:
        levels = normalised_levels(frame[name])
        auc = _folded(roc_auc(y, out_of_fold_rates(levels, y, seed)))
        share = near_pure_share(levels, y, config.min_level_rows, config.purity_ratio)
        records.append({"column": name, "kind": "categorical", "auc": auc, "near_pure_share": share,
                        "levels": int(pd.Series(levels).nunique())})
    table = pd.DataFrame(records, columns=["column", "kind", "auc", "near_pure_share", "levels"])
    table.insert(0, "target", target)
    table.insert(3, "rows", len(y))
    table["flagged"] = (table["auc"] > config.max_auc) | (
        table["near_pure_share"].fillna(0.0) > config.max_near_pure_share
    )
    table["allowed"] = table["column"].isin(allowed)
    return table.sort_values(["auc", "column"], ascending=[False, True], kind="stable").reset_index(drop=True)[
        AUDIT_COLUMNS
    ]


def check_audit(table: pd.DataFrame, config: AuditConfig | None = None, source: str = "") -> None:
    """Raise one-line LeakageError naming every flagged, not allowed column with both figures."""
    config = config or AuditConfig()
    stop = table[table["flagged"] & ~table["allowed"]]
    if stop.empty:
        return
    parts = []
    for _, row in stop.drop_duplicates("column").iterrows():
        share = "n/a (numeric)" if pd.isna(row["near_pure_share"]) else f"{row['near_pure_share']:.0%}"
        target = f" for '{row['target']}'" if row["target"] else ""
        parts.append(f"'{row['column']}'{target}: ROC AUC {row['auc']:.3f} alone, {share} of rows "
                     "in near-pure levels")
    where = f"{source}: " if source else ""
    raise LeakageError(
        f"{where}leakage audit stopped training: {'; '.join(parts)} (limits: AUC "
        f"{config.max_auc:.2f}, near-pure share {config.max_near_pure_share:.0%}); these columns "
        "predict the label almost alone, so they are probably written after the outcome: exclude "
        "them, or list them under audit.allow"
    )


def audit_examples(
    examples: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    targets: list[str],
    config: AuditConfig | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """The audit table over every target of snapshot examples (`label_<target>`; rows whose label
    is NaN are not examples for that target)."""
    tables = []
    for target in targets:
        rows = examples[examples[f"label_{target}"].notna()]
        tables.append(audit_columns(rows, rows[f"label_{target}"].to_numpy(dtype=float), numeric,
                                    categorical, config, seed, target))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=AUDIT_COLUMNS)


def run_audit(
    frame: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    targets: list[str],
    config: AuditConfig | None = None,
    seed: int = 0,
    source: str = "",
) -> pd.DataFrame:
    """Audit and stop on leakage: the table when every column passes (or the audit is off:
    an empty table), else a LeakageError."""
    config = config or AuditConfig()
    if not config.enabled:
        return pd.DataFrame(columns=AUDIT_COLUMNS)
    table = audit_examples(frame, numeric, categorical, targets, config, seed)
    check_audit(table, config, source)
    return table
