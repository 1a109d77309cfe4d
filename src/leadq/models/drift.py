"""Population stability: binned reference distributions kept with a model, and the PSI of new data.

Bins are the training deciles' distinct inner edges (a value v falls in the first bin whose
upper edge is >= v), plus one bin for missing values. PSI = sum over bins of
(actual - expected) * ln(actual / expected), with shares floored at 1e-4 so an empty bin does
not make it infinite. Usual reading: < 0.1 stable, 0.1-0.2 some shift, > 0.2 a real shift.
"""

import numpy as np

PSI_WARNING = 0.2
SHARE_FLOOR = 1e-4


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    missing = np.isnan(values)
    present = values[~missing]
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
    shares = np.append(counts, missing.sum()).astype(float)
    return shares / max(len(values), 1)


def reference_bins(values, n_bins: int = 10) -> dict:
    """The binned training distribution of `values` (numbers; NaN = missing)."""
    values = np.asarray(values, dtype=float)
    present = values[~np.isnan(values)]
    if len(present):
        inner = np.quantile(present, np.linspace(0, 1, n_bins + 1)[1:-1])
        edges = np.unique(inner)
    else:
        edges = np.array([])
    return {"edges": edges.tolist(), "shares": _shares(values, edges).tolist()}


def population_stability_index(reference: dict, values) -> float:
    """PSI of `values` against a `reference_bins` reference."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return 0.0
    expected = np.maximum(np.asarray(reference["shares"], dtype=float), SHARE_FLOOR)
    actual = np.maximum(_shares(values, np.asarray(reference["edges"], dtype=float)), SHARE_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))
