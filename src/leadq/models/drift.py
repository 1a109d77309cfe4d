"""Population stability: binned reference distributions kept with a model, and the PSI of new data.

Bins are the training deciles' distinct inner edges (a value v falls in the first bin whose
upper edge is >= v), plus one bin for missing values. PSI = sum over bins of
(actual - expected) * ln(actual / expected), with shares floored at 1e-4 so an empty bin does
not make it infinite. Usual reading: < 0.1 stable, 0.1-0.2 some shift, > 0.2 a real shift.
"""

import numpy as np
import pandas as pd

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


def drift_report(scored: pd.DataFrame, features_sample: pd.DataFrame, reference: dict,
                  score_column: str) -> tuple[dict, list[str]]:
    """PSI of the score column and of the reference's features against the model's reference,
    and a warning line for each over `PSI_WARNING`."""
    psi = {}
    ref_scores = reference.get("scores", {})
    if score_column in ref_scores:
        psi[score_column] = population_stability_index(ref_scores[score_column], scored[score_column])
    for name, bins in reference.get("features", {}).items():
        if name in features_sample.columns:
            psi[name] = population_stability_index(bins, features_sample[name].to_numpy(dtype=float))
    warnings = [
        f"drift: PSI of {name} is {value:.3f} (over {PSI_WARNING}) against the model's reference"
        for name, value in psi.items() if value > PSI_WARNING
    ]
    return psi, warnings
