"""Evaluation plots as PNG files: ROC, precision-recall, reliability, cumulative gain and
feature importance. Uses matplotlib's Agg backend (no display needed) without changing the
global backend, so importing leadq never touches matplotlib state."""

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

DPI = 110


def _figure(title: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title)
    return fig, ax


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return path


def plot_roc(y_true, y_score, path: Path, title: str = "ROC") -> Path:
    """ROC curve with the chance diagonal."""
    fpr, tpr, _ = roc_curve(y_true, y_score)
    fig, ax = _figure(title)
    ax.plot(fpr, tpr, label="model")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_precision_recall(y_true, y_score, path: Path, title: str = "Precision-recall") -> Path:
    """Precision-recall curve with the base rate as reference."""
    precision, recall, _ = precision_recall_curve(y_true, y_score)
    fig, ax = _figure(title)
    ax.plot(recall, precision, label="model")
    ax.axhline(float(np.mean(y_true)), linestyle="--", color="grey", label="base rate")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper right")
    return _save(fig, path)


def plot_calibration(y_true, y_score, path: Path, n_bins: int = 10,
                     title: str = "Calibration") -> Path:
    """Reliability diagram over equal-frequency bins (as in the ECE metric)."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_score, dtype=float)
    order = np.argsort(p, kind="stable")
    bins = [b for b in np.array_split(order, min(n_bins, len(p))) if len(b)]
    fig, ax = _figure(title)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    ax.plot([p[b].mean() for b in bins], [y[b].mean() for b in bins], marker="o", label="model")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate")
    ax.legend(loc="upper left")
    return _save(fig, path)


def plot_gain(y_true, y_score, path: Path, title: str = "Cumulative gain") -> Path:
    """Share of positives captured against share of leads passed, best first."""
    y = np.asarray(y_true, dtype=float)
    order = np.argsort(-np.asarray(y_score, dtype=float), kind="stable")
    captured = np.r_[0, np.cumsum(y[order])] / max(y.sum(), 1)
    passed = np.arange(len(y) + 1) / len(y)
    fig, ax = _figure(title)
    ax.plot(passed, captured, label="model")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    ax.set_xlabel("share of leads passed")
    ax.set_ylabel("share of conversions captured")
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_importance(importances: pd.Series, path: Path, top: int = 20,
                    title: str = "Permutation importance") -> Path:
    """Horizontal bars of the `top` largest importances (log-loss increase when shuffled)."""
    shown = importances.sort_values(ascending=False).head(top)[::-1]
    fig, ax = _figure(title)
    ax.barh(list(shown.index), shown.to_numpy())
    ax.set_xlabel("increase in validation log loss when shuffled")
    ax.tick_params(axis="y", labelsize=7)
    return _save(fig, path)


def save_target_plots(
    target: str, y_test, p_test, importances: pd.Series, out_dir: Path
) -> list[Path]:
    """All five plots for one target on the test window, named `<kind>_<target>.png`."""
    out_dir = Path(out_dir)
    return [
        plot_roc(y_test, p_test, out_dir / f"roc_{target}.png", f"ROC, {target} (test)"),
        plot_precision_recall(
            y_test, p_test, out_dir / f"pr_{target}.png", f"Precision-recall, {target} (test)"
        ),
        plot_calibration(
            y_test, p_test, out_dir / f"calibration_{target}.png", title=f"Calibration, {target} (test)"
        ),
        plot_gain(y_test, p_test, out_dir / f"gain_{target}.png", f"Cumulative gain, {target} (test)"),
        plot_importance(
            importances, out_dir / f"importance_{target}.png",
            title=f"Permutation importance, {target} (validation)",
        ),
    ]
