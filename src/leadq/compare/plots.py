"""The comparison's plots: the model's ROC, precision-recall and gain curves on the held-out
window, with the rules' and the model's operating points marked on them."""

import math
from pathlib import Path

import numpy as np
import pandas as pd

from leadq.compare.core import LEARNED, MODEL_CAPACITY, MODEL_TUNED, RULES_OWN, RULES_TUNED


def _figure(title: str, columns: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5 * columns, 4.5))
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, columns, i + 1) for i in range(columns)]
    fig.suptitle(title)
    return fig, axes


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(share passed, recall, precision) at every distinct threshold, highest first."""
    order = np.argsort(-score, kind="stable")
    s, yy = score[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(yy)[last]
    passed = last + 1.0
    return passed / len(y), tp / max(y.sum(), 1), tp / passed


def _point(y: np.ndarray, mask: np.ndarray) -> tuple[float, float, float]:
    passed = mask.sum()
    tp = (mask * y).sum()
    return passed / len(y), tp / max(y.sum(), 1), (tp / passed if passed else math.nan)


MARKERS = {RULES_OWN: ("o", "black"), RULES_TUNED: ("s", "tab:orange"),
           MODEL_CAPACITY: ("^", "tab:blue"), MODEL_TUNED: ("D", "tab:blue"),
           LEARNED: ("P", "tab:green")}


def save_comparison_plots(target: str, test: pd.DataFrame, selections: dict[str, np.ndarray],
                          out_dir: Path, thresholds: dict[str, float] | None = None,
                          window: str = "test") -> list[tuple[str, Path]]:
    """PR and cumulative-gain curves (model, rules, learned scorecard) with the operating
    points marked, and score distributions by outcome with the thresholds (by method) drawn;
    returns (caption, path) pairs."""
    thresholds = thresholds or {}
    y = test[f"label_{target}"].to_numpy(dtype=float)
    curves = {"model": (test[f"p_{target}"].to_numpy(dtype=float), "tab:blue", "-"),
              "rules": (test["rules_points"].to_numpy(dtype=float), "black", "-")}
    if "learned_points" in test.columns and LEARNED in selections:
        curves["learned scorecard"] = (test["learned_points"].to_numpy(dtype=float), "tab:green", "--")
    shapes = {name: _curve(y, score) for name, (score, _, _) in curves.items()}
    points = {m: _point(y, mask) for m, mask in selections.items()}
    out = []

    fig, (ax,) = _figure(f"Precision-recall, {target} ({window})")
    for name, (_, color, style) in curves.items():
        share, recall, precision = shapes[name]
        ax.plot(recall, precision, color=color, linestyle=style, label=name, drawstyle="steps-post")
    for method, (_, recall, precision) in points.items():
        marker, color = MARKERS[method]
        ax.plot([recall], [precision], marker=marker, color=color, markersize=8, linestyle="none",
                label=method, markeredgecolor="white")
    ax.axhline(float(y.mean()), linestyle=":", color="grey", label="base rate")
    ax.set_xlabel("recall (share of conversions passed)")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper right", fontsize=7)
    out.append((f"Precision-recall, {target}", _save(fig, out_dir / f"pr_{target}.png")))

    fig, (ax,) = _figure(f"Cumulative gain, {target} ({window})")
    for name, (_, color, style) in curves.items():
        share, recall, _ = shapes[name]
        ax.plot(np.r_[0, share], np.r_[0, recall], color=color, linestyle=style, label=name)
    for method, (share, recall, _) in points.items():
        marker, color = MARKERS[method]
        ax.plot([share], [recall], marker=marker, color=color, markersize=8, linestyle="none",
                label=method, markeredgecolor="white")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="random")
    ax.set_xlabel("share of leads passed")
    ax.set_ylabel("share of conversions captured")
    ax.legend(loc="lower right", fontsize=7)
    out.append((f"Cumulative gain, {target}", _save(fig, out_dir / f"gain_{target}.png")))

    fig, axes = _figure(f"Score distributions by outcome, {target} ({window})", columns=2)
    for ax, (name, column, xlabel, methods) in zip(axes, (
            ("model", f"p_{target}", f"model probability p_{target}", (MODEL_CAPACITY, MODEL_TUNED)),
            ("rules", "rules_points", "rule points", (RULES_OWN, RULES_TUNED)))):
        values = test[column].to_numpy(dtype=float)
        bins = np.histogram_bin_edges(values, bins=40)
        for outcome, color in ((0.0, "tab:grey"), (1.0, "tab:red")):
            ax.hist(values[y == outcome], bins=bins, density=True, alpha=0.5, color=color,
                    label="converted" if outcome else "not converted")
        for method in methods:
            if method in thresholds and np.isfinite(thresholds[method]):
                ax.axvline(thresholds[method], color=MARKERS[method][1], linestyle="--",
                           linewidth=1, label=method)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("density")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    out.append((f"Score distributions, {target}", _save(fig, out_dir / f"scores_{target}.png")))
    return out
