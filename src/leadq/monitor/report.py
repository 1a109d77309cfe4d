"""The monitoring report: plots of realized metrics and drift per scoring date, and one
self-contained HTML page (tables, PNGs embedded as data URIs) from the monitoring tables."""

import html
from pathlib import Path

import numpy as np
import pandas as pd

from leadq.config import MonitorConfig
from leadq.core.html import html_page, image_data_uri
from leadq.models.plots import DPI

TEST_WINDOW = "test window"
TABLE_METRICS = ("roc_auc", "pr_auc", "brier", "observed_to_predicted", "precision", "recall")
SHARES = ("precision", "recall")
VERDICT_COLOURS = {"ok": "#2e7d32", "recalibrate": "#b26a00", "retrain": "#c62828", "pending": "#777"}
_EXTRA_STYLE = """
.verdict { font-weight: bold; text-transform: uppercase; }
.pending td { color: #888; }
.figures img.wide { max-width: 100%; }
.figures img.half { max-width: 60%; }
tr.test td { background: #f3f6fa; }
td:first-child { white-space: nowrap; }
"""


def _figure(columns: int, title: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6 * columns, 3.9))
    FigureCanvasAgg(fig)
    fig.suptitle(title)
    return fig, [fig.add_subplot(1, columns, i + 1) for i in range(columns)]


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return path


def _dates(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["as_of"], utc=True).dt.tz_localize(None)


def plot_metrics_over_time(rows: pd.DataFrame, target: str, config: MonitorConfig, path: Path) -> Path:
    """ROC AUC, PR AUC and observed / predicted conversions per scoring date with their
    intervals, beside the test window's value and interval (shaded)."""
    evaluated = rows[~rows["pending"].astype(bool)].sort_values("as_of")
    fig, axes = _figure(3, f"{target}: realized per scoring date")
    dates = _dates(evaluated)
    for ax, metric, title in zip(axes, ("roc_auc", "pr_auc", "observed_to_predicted"),
                                 ("ROC AUC", "PR AUC", "observed / predicted")):
        value = evaluated[metric].to_numpy(dtype=float)
        low = value - evaluated[f"{metric}_lo"].to_numpy(dtype=float)
        high = evaluated[f"{metric}_hi"].to_numpy(dtype=float) - value
        ax.errorbar(dates, value, yerr=[np.nan_to_num(low), np.nan_to_num(high)], marker="o",
                    capsize=3, label="realized")
        if metric == "observed_to_predicted":
            tol = config.calibration_tolerance
            ax.axhspan(1 - tol, 1 + tol, color="grey", alpha=0.15, label=f"1 ± {tol:g}")
            ax.axhline(1.0, color="grey", linestyle="--")
        elif f"test_{metric}" in evaluated and len(evaluated):
            test = evaluated.iloc[0]
            if pd.notna(test.get(f"test_{metric}_lo")):
                ax.axhspan(test[f"test_{metric}_lo"], test[f"test_{metric}_hi"], color="tab:orange",
                           alpha=0.2, label="test window interval")
            ax.axhline(test[f"test_{metric}"], color="tab:orange", linestyle="--", label="test window")
        ax.set_title(title)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.legend(loc="best", fontsize=7)
    return _save(fig, path)


def plot_psi_over_time(rows: pd.DataFrame, config: MonitorConfig, path: Path) -> Path:
    """PSI per scoring date of each target's probability and of the most shifted reference
    feature, with the limit; pending runs (outcomes not yet known) included."""
    fig, (ax,) = _figure(1, "Drift per scoring date (PSI against the model's reference)")
    for target, part in rows.sort_values("as_of").groupby("target", sort=True):
        ax.plot(_dates(part), part["psi_score"], marker="o", label=f"p_{target}")
    first = rows.sort_values("as_of").drop_duplicates("as_of")
    if "psi_features_max" in first and first["psi_features_max"].notna().any():
        ax.plot(_dates(first), first["psi_features_max"], marker="s", linestyle=":",
                label="most shifted feature")
    ax.axhline(config.psi_limit, color="tab:red", linestyle="--", label=f"limit {config.psi_limit:g}")
    ax.set_ylabel("PSI")
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.legend(loc="best", fontsize=7)
    return _save(fig, path)


def plot_deciles(deciles: pd.DataFrame, target: str, as_of: str, path: Path) -> Path:
    """Calibration by decile: observed rate (with its interval) against mean predicted
    probability, for the latest evaluated scoring run and the test window."""
    fig, (ax,) = _figure(1, f"{target}: calibration by decile")
    top = 0.0
    for label, part in deciles.groupby("as_of", sort=False):
        x = part["mean_predicted"].to_numpy(dtype=float)
        y = part["observed_rate"].to_numpy(dtype=float)
        err = [np.nan_to_num(y - part["observed_rate_lo"].to_numpy(dtype=float)),
               np.nan_to_num(part["observed_rate_hi"].to_numpy(dtype=float) - y)]
        name = TEST_WINDOW if label == TEST_WINDOW else f"scores of {as_of}"
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=name)
        top = max(top, np.nanmax(np.r_[x, part["observed_rate_hi"].to_numpy(dtype=float), 0.0]))
    top = top * 1.05 or 1.0
    ax.plot([0, top], [0, top], linestyle="--", color="grey", label="calibrated")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate")
    ax.legend(loc="upper left", fontsize=7)
    return _save(fig, path)


def _cell(value, digits: int = 3, share: bool = False) -> str:
    if value is None or pd.isna(value):
        return "–"
    return f"{value:.1%}" if share else f"{value:.{digits}f}"


def _with_interval(row: pd.Series, metric: str, share: bool = False) -> str:
    text = _cell(row.get(metric), share=share)
    low, high = row.get(f"{metric}_lo"), row.get(f"{metric}_hi")
    if low is None or pd.isna(low):
        return html.escape(text)
    return (f"{html.escape(text)} <span class=\"ci\">[{html.escape(_cell(low, share=share))}, "
            f"{html.escape(_cell(high, share=share))}]</span>")


def _table(header: list[str], rows: list[list[str]], row_classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, cells in enumerate(rows):
        cls = f" class=\"{row_classes[i]}\"" if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _verdict_badge(verdict: str) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#222")
    return f"<span class=\"verdict\" style=\"color:{colour}\">{html.escape(verdict)}</span>"


def verdict_table(verdicts: pd.DataFrame) -> str:
    """One row per model version: verdict, why, latest scores with outcomes, runs."""
    rows = []
    for _, v in verdicts.iterrows():
        latest = "–" if pd.isna(v["latest_as_of"]) else str(pd.Timestamp(v["latest_as_of"]).date())
        rows.append([html.escape(f"{v['model_name']} v{v['model_version']}"), _verdict_badge(v["verdict"]),
                     html.escape(str(v["reason"])), html.escape(latest),
                     html.escape(f"{v['evaluated']} / {v['pending']}")])
    return _table(["model version", "verdict", "why", "latest scores with outcomes",
                   "runs evaluated / pending"], rows)


def target_table(rows: pd.DataFrame) -> str:
    """One target's scoring runs, one row per date (status, counts, realized metrics with their
    intervals, PSI of the target's probability), under a first row with the test window's."""
    first = rows.iloc[0]
    test = ["<em>test window</em>", "", html.escape(_count(first.get("test_n"))),
            html.escape(_count(first.get("test_positives")))]
    test += [_with_interval(first, f"test_{m}", share=m in SHARES) for m in TABLE_METRICS] + [""]
    body, classes = [test], ["test"]
    for _, r in rows.sort_values("as_of").iterrows():
        pending = bool(r["pending"])
        cells = [html.escape(str(pd.Timestamp(r["as_of"]).date())), _verdict_badge(str(r["status"])),
                 html.escape(_count(r["n_scored"])), "–" if pending else html.escape(_count(r["positives"]))]
        cells += ["–" if pending else _with_interval(r, m, share=m in SHARES) for m in TABLE_METRICS]
        cells.append(html.escape(_cell(r.get("psi_score"))))
        body.append(cells)
        classes.append("pending" if pending else "")
    header = ["scores of", "status", "scored", "conversions", "ROC AUC", "PR AUC", "Brier",
              "observed / predicted", "precision (routed)", "recall (routed)", "PSI of p"]
    return _table(header, body, classes)


def drift_table(rows: pd.DataFrame) -> str:
    """One row per scoring date: the PSI of each target's probability and the largest feature
    PSI (from the run's drift report), with whether the run counts as drifted."""
    targets = sorted(rows["target"].unique())
    body = []
    for as_of, part in rows.sort_values("as_of").groupby("as_of", sort=True):
        psi = dict(zip(part["target"], part["psi_score"]))
        first = part.iloc[0]
        feature = _cell(first.get("psi_features_max"))
        if isinstance(first.get("psi_features_top"), str) and first["psi_features_top"]:
            feature += f" ({first['psi_features_top']})"
        body.append([html.escape(str(pd.Timestamp(as_of).date())),
                     *[html.escape(_cell(psi.get(t))) for t in targets], html.escape(feature),
                     "yes" if bool(first.get("drifted")) else ""])
    return _table(["scores of", *[f"PSI of p_{t}" for t in targets], "largest feature PSI", "drifted"], body)


def _count(value) -> str:
    return "–" if value is None or pd.isna(value) else f"{int(value):,}"


def _images(pictures: dict, captions: list[str], kind: str) -> list[str]:
    shown = [(c, pictures[c]) for c in captions if c in pictures]
    return [f"<div class=\"figures\"><img class=\"{kind}\" alt=\"{html.escape(c)}\" title=\"{html.escape(c)}\" "
            f"src=\"{image_data_uri(p)}\"></div>" for c, p in shown]


def render_monitor_report(verdicts: pd.DataFrame, rows: pd.DataFrame, figures: dict, data_end,
                          config: MonitorConfig, warnings: list[str]) -> str:
    """The whole report. `rows` is the monitoring table (one row per scoring run and target);
    `figures` maps (model_name, model_version) to a list of (caption, PNG path)."""
    horizons = ", ".join(f"{int(h)}" for h in sorted(rows["horizon_days"].unique()))
    intro = (f"Scoring runs whose horizon ({horizons} days) ended by the data's end "
             f"({pd.Timestamp(data_end).strftime('%Y-%m-%d %H:%M UTC')}) are joined with the outcomes reached in "
             "(as_of, as_of + horizon]; the others are listed as pending, with their drift only.")
    body = [f"<p>{html.escape(intro)}</p>", "<h2>Verdict per model version</h2>", verdict_table(verdicts)]
    if warnings:
        body.append("<ul class=\"notes\">" + "".join(f"<li>{html.escape(w)}</li>" for w in warnings) + "</ul>")
    for (name, version), part in rows.groupby(["model_name", "model_version"], sort=True):
        pictures = dict(figures.get((name, version), []))
        for target, rows_of_target in part.groupby("target", sort=False):
            body.append(f"<h2>{html.escape(f'{name} v{version}, {target}: realized per scoring date')}</h2>")
            body.append(target_table(rows_of_target))
            body += _images(pictures, [f"{target}: realized per scoring date"], "wide")
            body += _images(pictures, [f"{target}: calibration by decile"], "half")
        body.append(f"<h2>{html.escape(f'{name} v{version}: drift per scoring date')}</h2>")
        body.append(drift_table(part))
        body += _images(pictures, ["drift per scoring date"], "half")
    notes = [
        "Each cell: the realized value, then its "
        f"{config.interval:.0%} interval from {config.bootstrap_resamples} bootstrap resamples of leads. "
        "The test window's figures are the model's own test predictions (logged at training), "
        "measured the same way; it counts (lead, cutoff) examples, a lead's rows resampled together.",
        "observed / predicted: conversions reached over the sum of the issued probabilities "
        "(calibration in the large; 1 is calibrated). Precision and recall are those of the routed "
        "stage: leads the scores passed on at or beyond the target's stage.",
        f"status retrain: the realized ROC AUC's interval lies wholly below the test window's; "
        f"recalibrate: ranking holds but observed / predicted lies wholly outside 1 ± "
        f"{config.calibration_tolerance:g}. A model version's verdict is its latest evaluated run's, "
        f"or retrain when its last {config.psi_runs} scoring runs all had a PSI over {config.psi_limit:g} "
        f"({'scores and features' if config.psi_features else 'scores; feature PSI is shown, not counted'}).",
        "PSI compares each run's leads still open for a target with the model's reference: the "
        "open leads at the last cutoff of its test window.",
    ]
    body.append("<h2>How to read this</h2><ul class=\"notes\">"
                + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    return html_page("Monitoring: issued scores against their outcomes", body, _EXTRA_STYLE)
