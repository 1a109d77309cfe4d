"""The `monitor` step: score files written by `leadq predict` and the data's outcomes in;
realized metrics, drift and a verdict per model version out, as `report.html`, `monitor.csv`
and `calibration.csv`, a run per model version in MLflow and tags on the version.

A scoring run is one `as_of` of one model version in one score file. Its horizon (the model's
`horizon_days`, from the config logged with it) has elapsed when `as_of + horizon` is at or
before the data's end (its latest event or outcome); then each lead still open for a target is
labelled as training labels it, reached in (as_of, as_of + horizon] (`label_examples`), and the
run is measured (`leadq.monitor.realized`). Runs whose horizon has not elapsed are pending: only
their drift is known. Drift per run: the PSI of each target's probability over the leads still
open for it against the model's reference, and the features' PSI from the drift report
`leadq predict` wrote beside the file (`FILE.report.json`). Flags and verdicts:
`leadq.monitor.verdict`. Outputs are written to a temporary folder, logged, then moved into
`out` file by file.
"""

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from leadq.config import MonitorConfig, PipelineConfig, load_config
from leadq.core.errors import EXIT_OK, EXIT_RETRAIN, BadInputError
from leadq.core.files import TABLE_SUFFIXES
from leadq.data.contract import STAGE_ORDER
from leadq.data.load import load_data
from leadq.data.mapping import DataMapping
from leadq.features.examples import label_examples
from leadq.models.drift import population_stability_index
from leadq.monitor.realized import (
    INTERVAL_METRICS, POINT_ONLY, measure, routed_at_or_beyond, routed_by_thresholds,
)
from leadq.monitor.report import (
    TEST_WINDOW, plot_deciles, plot_metrics_over_time, plot_psi_over_time, render_monitor_report,
)
from leadq.monitor.verdict import RETRAIN, flag_targets, run_status, version_verdicts
from leadq.steps.predict import report_path_for

REQUIRED_SCORE_COLUMNS = ("lead_id", "as_of", "model_name", "model_version", "stage")


@dataclass
class MonitorOutcome:
    """What a monitoring pass found and wrote."""

    out: Path
    table: pd.DataFrame
    runs: pd.DataFrame
    verdicts: pd.DataFrame
    data_end: pd.Timestamp
    tracking_uri: str
    run_ids: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    exit_code: int = EXIT_OK


def score_files(paths: list[Path]) -> list[Path]:
    """The score files named: files as given, folders' `.csv` / `.parquet` files (not their
    drift reports or hidden temporary files), in name order."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES
                            and not p.name.startswith("."))
        elif path.is_file():
            found.append(path)
        else:
            raise BadInputError(f"{path}: no such score file or folder (0 rows)")
    if not found:
        raise BadInputError(f"{', '.join(map(str, paths))}: no .csv or .parquet score files (0 rows)")
    return found


def read_scores(path: Path) -> pd.DataFrame:
    """One score file as `leadq predict` writes it, checked: the required columns, at least one
    `p_<target>`, and parseable `as_of` times (UTC)."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise BadInputError(f"{path}: score files must end in .csv or .parquet")
    try:
        frame = (pd.read_csv(path, dtype={"lead_id": str, "model_name": str, "model_version": str})
                 if suffix == ".csv" else pd.read_parquet(path))
    except (ValueError, OSError) as exc:
        raise BadInputError(f"{path}: cannot be read ({str(exc).splitlines()[0]})") from None
    for column in REQUIRED_SCORE_COLUMNS:
        if column not in frame:
            raise BadInputError(f"{path}: required column '{column}' is missing in all {len(frame)} rows")
    if not any(c.startswith("p_") for c in frame.columns):
        raise BadInputError(f"{path}: no 'p_<target>' column in all {len(frame)} rows")
    as_of = pd.to_datetime(frame["as_of"], utc=True, errors="coerce", format="ISO8601")
    if as_of.isna().any():
        raise BadInputError(f"{path}: column 'as_of' has {int(as_of.isna().sum())} of {len(frame)} rows "
                            "missing or unparseable")
    return frame.assign(as_of=as_of, lead_id=frame["lead_id"].astype(str),
                        model_name=frame["model_name"].astype(str),
                        model_version=frame["model_version"].astype(str))


def collect_runs(files: list[Path]) -> tuple[dict[tuple[str, str], list], list[str]]:
    """Score files grouped by model version: {(name, version): [(file, its rows), ...]}, and a
    warning per scoring run found in two files (the later file in name order is kept)."""
    runs: dict[tuple[str, str], list] = {}
    seen: dict[tuple[str, str, pd.Timestamp], Path] = {}
    warnings = []
    for path in files:
        frame = read_scores(path)
        for (name, version), part in frame.groupby(["model_name", "model_version"], sort=True):
            if not name or name.startswith(("runs:/", "models:/", "file:", "/")):
                raise BadInputError(f"{path}: column 'model_name' holds '{name}' in {len(part)} rows, not a "
                                    "registered model; monitoring compares and tags registered versions")
            found = runs.setdefault((name, version), [])
            for as_of in part["as_of"].unique():
                earlier = seen.get((name, version, as_of))
                if earlier is not None:
                    found[:] = [(f, rows[rows["as_of"] != as_of] if f == earlier else rows) for f, rows in found]
                    warnings.append(f"{earlier} and {path} both hold {name} v{version}'s scores as of "
                                    f"{as_of.isoformat()}; those of {path.name} are used")
                seen[(name, version, as_of)] = path
            found.append((path, part))
    return {key: [(f, rows) for f, rows in found if len(rows)] for key, found in runs.items()}, warnings


def feature_psi(score_path: Path) -> tuple[float, str]:
    """The largest feature PSI in the drift report beside a score file, and its feature."""
    report = report_path_for(score_path)
    try:
        psi = json.loads(report.read_text()).get("psi", {})
    except (OSError, ValueError):
        return np.nan, ""
    features = {k: float(v) for k, v in psi.items() if not k.startswith("p_")}
    if not features:
        return np.nan, ""
    top = max(features, key=features.get)
    return features[top], top


def _test_window(facts, funnel: list[str], target: str, settings: MonitorConfig, seed: int):
    """The test window's metrics and deciles for `target`, measured like the issued scores; the
    logged point values only (no interval) for models trained before test predictions were kept."""
    frame = facts.test_predictions
    if frame is None or f"p_{target}" not in frame:
        metrics = {name: facts.test_metrics.get(f"test_{name}_{target}", np.nan)
                   for name in ("roc_auc", "pr_auc", "brier")}
        return metrics, None
    rows = frame[frame[f"label_{target}"].notna()]
    routed = routed_by_thresholds(rows, target, funnel, facts.thresholds)
    return measure(rows[f"label_{target}"], rows[f"p_{target}"], routed, rows["lead_id"],
                   settings.bootstrap_resamples, seed, settings.interval)


def _measure_version(facts, runs: list[tuple[Path, pd.DataFrame]], data, data_end: pd.Timestamp,
                     config: PipelineConfig, warnings: list[str]) -> tuple[list[dict], list[pd.DataFrame]]:
    """Rows of the monitoring table (one per scoring run and target) and the deciles, for one
    model version's scoring runs."""
    settings, horizon = config.monitor, config.horizon_days
    funnel = [s for s in STAGE_ORDER if s in facts.targets] + [t for t in facts.targets if t not in STAGE_ORDER]
    due = sorted({as_of for _, frame in runs for as_of in frame["as_of"].unique()
                  if as_of + pd.Timedelta(days=horizon) <= data_end})
    labels = label_examples(data, due, funnel, horizon, history_end=data_end) if due else pd.DataFrame()
    tests = {t: _test_window(facts, funnel, t, settings, config.seed) for t in funnel}
    rows, deciles = [], []
    for t, (_, table) in tests.items():
        if table is not None:
            deciles.append(table.assign(model_name=facts.name, model_version=facts.version, target=t,
                                        as_of=TEST_WINDOW))
    for path, frame in runs:
        psi_features, psi_top = feature_psi(path)
        for as_of, scored in frame.groupby("as_of", sort=True):
            pending = as_of not in due
            run_labels = labels[labels["cutoff"] == as_of] if not pending else None
            for target in funnel:
                column = f"p_{target}"
                if column not in scored:
                    continue
                open_rows = scored[scored[column].notna()]
                reference = facts.reference.get("scores", {}).get(column)
                row = {"model_name": facts.name, "model_version": facts.version, "as_of": as_of,
                       "target": target, "pending": pending, "horizon_days": horizon,
                       "n_scored": len(open_rows), "file": str(path),
                       "psi_score": (population_stability_index(reference, open_rows[column])
                                     if reference else np.nan),
                       "psi_features_max": psi_features, "psi_features_top": psi_top}
                test_metrics = tests[target][0]
                row.update({f"test_{k}": v for k, v in test_metrics.items()})
                if not pending:
                    joined = open_rows.merge(run_labels[["lead_id", f"label_{target}"]], on="lead_id", how="left")
                    unknown = joined[f"label_{target}"].isna()
                    if unknown.any():
                        warnings.append(f"{path}: {int(unknown.sum())} of {len(joined)} leads scored for "
                                        f"{target} as of {as_of.date()} are not open for it in the data "
                                        "(unknown, or reached it by then per late outcomes); left out")
                    joined = joined[~unknown]
                    routed = routed_at_or_beyond(joined["stage"], target, funnel)
                    metrics, table = measure(joined[f"label_{target}"], joined[column], routed, joined["lead_id"],
                                             settings.bootstrap_resamples, config.seed, settings.interval)
                    row.update(metrics)
                    deciles.append(table.assign(model_name=facts.name, model_version=facts.version,
                                                target=target, as_of=as_of.isoformat()))
                rows.append(row)
    return rows, deciles


def _figures(table: pd.DataFrame, deciles: pd.DataFrame, settings: MonitorConfig, folder: Path) -> dict:
    figures = {}
    for (name, version), part in table.groupby(["model_name", "model_version"], sort=True):
        tag = f"{name}_v{version}".replace("/", "_")
        pictures = []
        for target, rows in part.groupby("target", sort=False):
            evaluated = rows[~rows["pending"].astype(bool)]
            if len(evaluated):
                pictures.append((f"{target}: realized per scoring date",
                                 plot_metrics_over_time(rows, target, settings, folder / f"{tag}_{target}_over_time.png")))
                latest = evaluated.sort_values("as_of").iloc[-1]["as_of"].isoformat()
                mine = deciles[(deciles["model_name"] == name) & (deciles["model_version"] == version)
                               & (deciles["target"] == target) & deciles["as_of"].isin([latest, TEST_WINDOW])]
                pictures.append((f"{target}: calibration by decile",
                                 plot_deciles(mine, target, latest[:10], folder / f"{tag}_{target}_deciles.png")))
        pictures.append(("drift per scoring date", plot_psi_over_time(part, settings, folder / f"{tag}_psi.png")))
        figures[(name, version)] = pictures
    return figures


def monitor_to_dir(score_paths: list[Path], data_dir: Path, out: Path, config_path: Path | None = None,
                   tracking_uri: str | None = None, mapping: DataMapping | None = None,
                   clock=None) -> MonitorOutcome:
    """Measure every scoring run in `score_paths` against the outcomes in `data_dir`, write
    `report.html`, `monitor.csv` and `calibration.csv` into `out`, log a run per model version
    and tag the version. Thresholds come from `config_path`, else the config logged with each
    model version, else the defaults. `exit_code` is EXIT_RETRAIN when a verdict is retrain
    (unless `monitor.retrain_exit_code` is off)."""
    from leadq.tracking.monitoring import log_monitoring, version_facts
    from leadq.tracking.store import resolve_tracking_uri

    explicit = load_config(config_path) if config_path is not None else None
    files = score_files(score_paths)
    runs_by_version, warnings = collect_runs(files)
    data = load_data(data_dir, mapping or DataMapping(), clock=clock, require_leads=False)
    data_end = data.history_end()
    if data_end is None:
        raise BadInputError(f"{data.sources['outcomes']}: no events or outcomes to judge scores by (0 rows)")
    uri = resolve_tracking_uri(tracking_uri, explicit.tracking_uri if explicit else None)
    warnings = [*data.report, *warnings]
    rows, deciles, facts_of, configs = [], [], {}, {}
    for (name, version), runs in runs_by_version.items():
        facts = version_facts(name, version, uri)
        config = explicit or facts.config or PipelineConfig()
        if explicit is not None and facts.config is not None:  # the model's own horizon
            config = explicit.model_copy(update={"horizon_days": facts.config.horizon_days})
        facts_of[(name, version)], configs[(name, version)] = facts, config
        found, tables = _measure_version(facts, runs, data, data_end, config, warnings)
        rows += found
        deciles += tables
    table = pd.DataFrame(rows)
    flagged = pd.concat([flag_targets(part, configs[key].monitor)
                         for key, part in table.groupby(["model_name", "model_version"], sort=True)])
    runs = pd.concat([run_status(part, configs[key].monitor)
                      for key, part in flagged.groupby(["model_name", "model_version"], sort=True)])
    verdicts = pd.concat([version_verdicts(part, configs[key].monitor)
                          for key, part in runs.groupby(["model_name", "model_version"], sort=True)],
                         ignore_index=True)
    flagged = flagged.merge(runs[["model_name", "model_version", "as_of", "status", "drifted"]],
                            on=["model_name", "model_version", "as_of"], how="left")
    decile_table = pd.concat(deciles, ignore_index=True) if deciles else pd.DataFrame()

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".monitor-", dir=out))
    run_ids = {}
    try:
        written = _write_outputs(flagged, decile_table, verdicts, data_end, configs, warnings, tmp)
        for key, facts in facts_of.items():
            mine = flagged[(flagged["model_name"] == key[0]) & (flagged["model_version"] == key[1])]
            verdict = verdicts[(verdicts["model_name"] == key[0]) & (verdicts["model_version"] == key[1])].iloc[0]
            run_ids[key] = log_monitoring(facts, mine[~mine["pending"].astype(bool)], verdict.to_dict(),
                                          written, uri)
        for path in written:
            os.replace(path, out / path.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    retrain = any(v["verdict"] == RETRAIN and configs[(v["model_name"], v["model_version"])].monitor.retrain_exit_code
                  for _, v in verdicts.iterrows())
    return MonitorOutcome(out=out, table=flagged, runs=runs, verdicts=verdicts, data_end=data_end,
                          tracking_uri=uri, run_ids=run_ids, warnings=warnings,
                          exit_code=EXIT_RETRAIN if retrain else EXIT_OK)


def table_columns(table: pd.DataFrame) -> list[str]:
    """`monitor.csv`'s columns in reading order: the run and its flags, then each metric beside
    its interval and the test window's, then drift and provenance."""
    ordered = ["model_name", "model_version", "as_of", "target", "status", "pending", "drifted",
               "ranking_below", "calibration_off", "reason", "n_scored", "n", "positives"]
    for name in (*INTERVAL_METRICS, *POINT_ONLY):
        ordered += [f"{prefix}{name}{suffix}" for prefix in ("", "test_") for suffix in ("", "_lo", "_hi")]
    ordered += ["test_n", "test_positives", "psi_score", "psi_features_max", "psi_features_top", "horizon_days", "file"]
    present = [c for c in ordered if c in table]
    return present + [c for c in table.columns if c not in present]


def _write_outputs(flagged: pd.DataFrame, deciles: pd.DataFrame, verdicts: pd.DataFrame, data_end,
                   configs: dict, warnings: list[str], folder: Path) -> list[Path]:
    settings = next(iter(configs.values())).monitor
    figures = _figures(flagged, deciles, settings, folder / "plots")
    report = folder / "report.html"
    report.write_text(render_monitor_report(verdicts, flagged, figures, data_end, settings, warnings),
                      encoding="utf-8")
    table = folder / "monitor.csv"
    csv = flagged.assign(as_of=flagged["as_of"].map(lambda t: t.isoformat()))
    csv[table_columns(csv)].to_csv(table, index=False)
    calibration = folder / "calibration.csv"
    deciles.to_csv(calibration, index=False)
    return [report, table, calibration]


def describe_monitoring(outcome: MonitorOutcome) -> list[str]:
    """Lines for the terminal: each model version's verdict and why, and where things went."""
    lines = []
    for _, v in outcome.verdicts.iterrows():
        lines.append(f"{v['model_name']} v{v['model_version']}: {v['verdict'].upper()} - {v['reason']} "
                     f"({v['evaluated']} scoring runs evaluated, {v['pending']} pending)")
        latest = outcome.table[(outcome.table["model_name"] == v["model_name"])
                               & (outcome.table["model_version"] == v["model_version"])
                               & (outcome.table["as_of"] == v["latest_as_of"])]
        for _, r in latest.iterrows():
            lines.append(f"  {r['target']} as of {r['as_of'].date()}: ROC AUC {r['roc_auc']:.3f} "
                         f"[{r['roc_auc_lo']:.3f}, {r['roc_auc_hi']:.3f}] (test {r['test_roc_auc']:.3f}), "
                         f"observed / predicted {r['observed_to_predicted']:.2f}, precision "
                         f"{r['precision']:.1%}, recall {r['recall']:.1%}")
    lines.append(f"report {outcome.out / 'report.html'}; table {outcome.out / 'monitor.csv'}; "
                 f"logged to {outcome.tracking_uri}")
    return lines
