"""Flags per scoring run and a verdict per model version, from realized metrics and drift.

Per scoring run and target (`flag_targets`):

- ranking below: the realized ROC AUC's interval lies wholly below the test window's interval
  (upper end under the test's lower end), so the ranking the model was chosen for is gone;
- calibration off: the interval of observed / predicted conversions lies wholly outside
  1 +- `calibration_tolerance` (e.g. [0.38, 0.52]: about half the promised conversions).

Per scoring run (`run_status`): `pending` when its horizon has not elapsed by the data's end
(only its drift is known), else `retrain` when a target's ranking is below, `recalibrate` when a
target's calibration is off, `ok` otherwise. A run has *drifted* when the PSI of a target's
probability (and with `psi_features`, of a reference feature) is over `psi_limit`; pending runs
count, since drift is known the day the scores are issued.

Per model version (`version_verdicts`): `retrain` when its latest evaluated run says so or its
last `psi_runs` runs all drifted; else `recalibrate` when its latest evaluated run says so; else
`ok`. The latest run decides, so a model that recovered (or was recalibrated) reads `ok` again.
"""

import numpy as np
import pandas as pd

from leadq.config import MonitorConfig

OK, RECALIBRATE, RETRAIN, PENDING = "ok", "recalibrate", "retrain", "pending"
RUN_KEYS = ["model_name", "model_version", "as_of"]


def _fmt(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.3f}"


def flag_targets(rows: pd.DataFrame, config: MonitorConfig) -> pd.DataFrame:
    """`rows` (one per run and target, with `roc_auc_lo/_hi`, `test_roc_auc_lo`,
    `observed_to_predicted*`, `pending`) with `ranking_below`, `calibration_off` and `reason`."""
    out = rows.copy()
    evaluated = ~out["pending"].astype(bool)
    test_low = out["test_roc_auc_lo"] if "test_roc_auc_lo" in out else pd.Series(np.nan, index=out.index)
    out["ranking_below"] = evaluated & (out["roc_auc_hi"] < test_low)
    tol = config.calibration_tolerance
    out["calibration_off"] = evaluated & ((out["observed_to_predicted_hi"] < 1 - tol)
                                          | (out["observed_to_predicted_lo"] > 1 + tol))
    reasons = []
    for _, row in out.iterrows():
        parts = []
        if row["ranking_below"]:
            parts.append(f"{row['target']}: ROC AUC {_fmt(row['roc_auc'])} [{_fmt(row['roc_auc_lo'])}, "
                         f"{_fmt(row['roc_auc_hi'])}] below the test window's [{_fmt(row['test_roc_auc_lo'])}, "
                         f"{_fmt(row['test_roc_auc_hi'])}]")
        if row["calibration_off"]:
            parts.append(f"{row['target']}: observed / predicted {_fmt(row['observed_to_predicted'])} "
                         f"[{_fmt(row['observed_to_predicted_lo'])}, {_fmt(row['observed_to_predicted_hi'])}] "
                         f"outside 1 ± {tol:g}")
        reasons.append("; ".join(parts))
    out["reason"] = reasons
    return out


def run_status(flagged: pd.DataFrame, config: MonitorConfig) -> pd.DataFrame:
    """One row per scoring run (`RUN_KEYS`): `status`, `drifted`, `psi` (the largest PSI that
    counts), `psi_of` (whose), `reason`; sorted by model and date."""
    rows = []
    for keys, part in flagged.groupby(RUN_KEYS, sort=True):
        psi = part[["target", "psi_score"]].rename(columns={"psi_score": "psi"})
        psi = psi.assign(of="p_" + psi["target"])
        if config.psi_features and "psi_features_max" in part:
            features = part[["psi_features_max", "psi_features_top"]].dropna().head(1)
            psi = pd.concat([psi, features.rename(columns={"psi_features_max": "psi", "psi_features_top": "of"})])
        psi = psi.dropna(subset=["psi"]).reset_index(drop=True)
        worst = psi.loc[psi["psi"].idxmax()] if len(psi) else None
        drifted = bool(worst is not None and worst["psi"] > config.psi_limit)
        if part["pending"].all():
            status = PENDING
        elif part["ranking_below"].any():
            status = RETRAIN
        elif part["calibration_off"].any():
            status = RECALIBRATE
        else:
            status = OK
        reasons = [r for r in part["reason"] if r]
        if drifted:
            reasons.append(f"PSI of {worst['of']} {worst['psi']:.3f} over {config.psi_limit:g}")
        rows.append({**dict(zip(RUN_KEYS, keys)), "status": status, "drifted": drifted,
                     "psi": np.nan if worst is None else float(worst["psi"]),
                     "psi_of": "" if worst is None else str(worst["of"]), "reason": "; ".join(reasons)})
    return pd.DataFrame(rows, columns=[*RUN_KEYS, "status", "drifted", "psi", "psi_of", "reason"])


def version_verdicts(runs: pd.DataFrame, config: MonitorConfig) -> pd.DataFrame:
    """One row per model version: `verdict`, `reason`, `latest_as_of` (its latest evaluated
    run, NaT if none), `runs`, `evaluated`, `pending`, `drifted_in_a_row`."""
    rows = []
    for (name, version), part in runs.groupby(["model_name", "model_version"], sort=True):
        part = part.sort_values("as_of")
        evaluated = part[part["status"] != PENDING]
        latest = evaluated.iloc[-1] if len(evaluated) else None
        streak = 0
        for drifted in part["drifted"].to_numpy()[::-1]:
            if not drifted:
                break
            streak += 1
        when = "" if latest is None else f" (scores of {pd.Timestamp(latest['as_of']).date()})"
        if latest is not None and latest["status"] == RETRAIN:
            verdict, reason = RETRAIN, latest["reason"] + when
        elif streak >= config.psi_runs:
            verdict = RETRAIN
            reason = f"PSI over {config.psi_limit:g} in the last {streak} scoring runs " \
                     f"(since {pd.Timestamp(part['as_of'].iloc[-streak]).date()})"
        elif latest is not None and latest["status"] == RECALIBRATE:
            verdict, reason = RECALIBRATE, latest["reason"] + when
        else:
            verdict = OK
            reason = ("no scoring run has its outcomes yet" if latest is None
                      else f"ranking and calibration hold{when}")
        rows.append({"model_name": name, "model_version": version, "verdict": verdict, "reason": reason,
                     "latest_as_of": pd.NaT if latest is None else latest["as_of"],
                     "runs": len(part), "evaluated": len(evaluated), "pending": len(part) - len(evaluated),
                     "drifted_in_a_row": streak})
    return pd.DataFrame(rows)
