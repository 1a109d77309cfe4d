"""The `leadq compare` step: resolve the model and its logged config, rebuild its held-out rows
(snapshot windows from the data folder, or out-of-fold rows of a lead table), score them with
the model and the rule scorecards, compare (`leadq.compare.core`), write the report folder
atomically and log the comparison to MLflow."""

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

from leadq.compare.core import N_BOOT, Comparison, compare_scored, comparison_metrics
from leadq.compare.plots import save_comparison_plots
from leadq.compare.report import report_html, yaml_dump
from leadq.config import PipelineConfig, load_config, parse_config
from leadq.core.errors import BadInputError
from leadq.core.files import refuse_outputs_over_inputs, table_inputs
from leadq.data.contract import TABLES
from leadq.data.database import data_location, redact_url
from leadq.data.load import load_data
from leadq.features.engine import build_feature_table
from leadq.features.lead_table import load_lead_table
from leadq.models.cross_validation import out_of_fold_probabilities
from leadq.models.train import ProgressCallback, score_features
from leadq.rules.lead_table import score_lead_table_rules
from leadq.rules.learned import LearnedScorecard, fit_learned_scorecard, label_windows
from leadq.rules.scorecard import Scorecard, load_scorecard, score_examples
from leadq.tracking.comparison_run import log_comparison_run
from leadq.tracking.store import resolve_tracking_uri
from leadq.tracking.store_access import open_store
from leadq.tracking.model_ref import (
    CONFIG_ARTIFACT,
    ModelRef,
    load_artifacts,
    logged_config_doc,
    logged_lead_table_doc,
    logged_run_data,
    resolve_model_ref,
)

DEFAULT_RULES = Path("pipelines/rules/default.yaml")
PACKAGED_RULES = "scorecard.yaml"

COMPARE_FILES = ("report.html", "comparison.csv", "learned_scorecard.yaml")


@dataclass
class ComparisonOutcome:
    """What `compare_to_dir` did: the table, the operating points, files and the MLflow run."""

    out: Path
    comparison: Comparison
    model: ModelRef
    scorecard: Scorecard
    learned_scorecard: Scorecard | None
    learned: LearnedScorecard | None
    config: PipelineConfig
    data_dir: Path
    run_id: str
    tracking_uri: str
    files: list[Path]
    scored: pd.DataFrame
    windows: dict[str, str]
    warnings: list[str] = field(default_factory=list)

    @property
    def table(self) -> pd.DataFrame:
        """The comparison table (the rows of `comparison.csv`)."""
        return self.comparison.table



def default_rules_path() -> Path:
    """`pipelines/rules/default.yaml` under the working directory, else the scorecard shipped
    with the package."""
    if DEFAULT_RULES.is_file():
        return DEFAULT_RULES
    return Path(str(resources.files("leadq.defaults").joinpath(PACKAGED_RULES)))


def _data_dir(data_dir: Path | str | None, logged: PipelineConfig | None, config: PipelineConfig) -> Path | str:
    if data_dir is not None:
        folder, origin = data_location(data_dir), "--data"
    elif logged is not None:
        folder, origin = data_location(logged.data.dir), "the data folder logged with the model's run"
    else:
        folder, origin = data_location(config.data.dir), "the config's data.dir"
    if isinstance(folder, Path) and not folder.is_dir():
        raise BadInputError(f"{folder}: data folder not found ({origin}); pass --data DIR")
    return folder


def _scored_examples(data, labelled: pd.DataFrame, artifacts, targets: list[str],
                     scorecard: Scorecard, learned: Scorecard) -> pd.DataFrame:
    """Validation and test examples with model probabilities, rule and learned points."""
    rows = labelled[labelled["window"].isin(["validation", "test"])].reset_index(drop=True)
    features = build_feature_table(data, artifacts.spec, rows[["lead_id", "cutoff"]])
    pipelines = {t: m for t, m in artifacts.load_pipelines().items() if t in targets}
    probabilities = score_features(pipelines, artifacts.spec, features)
    out = rows.copy()
    for column in probabilities.columns:
        out[column] = probabilities[column].to_numpy()
    out["rules_points"] = score_examples(data, scorecard, rows)["points"].to_numpy()
    out["learned_points"] = score_examples(data, learned, rows)["points"].to_numpy()
    return out


def _check_rebuilt_window(scored: pd.DataFrame, targets: list[str], model: ModelRef) -> list[str]:
    """A warning when the rebuilt test window does not reproduce the run's logged test AUC
    (the data changed since training, or another config was given)."""
    logged = logged_run_data(model)["metrics"]
    warnings = []
    for target in targets:
        key = f"test_roc_auc_{target}"
        test = scored[(scored["window"] == "test") & scored[f"label_{target}"].notna()]
        if key not in logged or test[f"label_{target}"].nunique() < 2:
            continue
        auc = roc_auc_score(test[f"label_{target}"], test[f"p_{target}"])
        if abs(auc - logged[key]) > 1e-6:
            warnings.append(
                f"{target}: the rebuilt test window gives ROC AUC {auc:.4f}, the model's run logged "
                f"{logged[key]:.4f}: the data or config differs from training"
            )
    return warnings


def _lead_table_scored(config: PipelineConfig, path: Path | None, model: ModelRef,
                       targets: list[str], scorecard: Scorecard, learned_card: Scorecard | None,
                       progress: ProgressCallback | None = None
                       ) -> tuple[pd.DataFrame, dict[str, str], Path, list[str]]:
    """Out-of-fold rows of a lead-level table: (scored, description, file, warnings).

    `scored` has `lead_id`, `window` ('test' throughout), `fold`, `label_<target>`,
    `p_<target>` (rebuilt out-of-fold probabilities of the run's chosen candidate),
    `rules_points` and, with `learned_card`, `learned_points`."""
    if config.lead_table.timestamp_column:
        raise BadInputError("config: compare on a lead table with a timestamp column (time split) is not "
                            "supported; it compares on cross-validated lead tables")
    warnings: list[str] = []
    doc = logged_lead_table_doc(model)
    if doc is None:
        raise BadInputError(f"{model.uri}: was trained on the three tables, but the config describes a "
                            "lead-level table; pass --config with the model's own config")
    table = load_lead_table(config, path)
    warnings += table.report
    target = table.target
    if target not in targets:
        raise BadInputError(f"{model.uri}: does not predict the config's target '{target}'")
    if doc.get("sha256") and doc["sha256"] != table.doc["sha256"]:
        warnings.append(f"{table.source}: differs from the table the model was trained on "
                        f"({doc.get('source', '?')}, {doc.get('rows', '?')} rows): the out-of-fold "
                        "predictions are rebuilt on this one")
    if doc.get("feature_columns") and doc["feature_columns"] != table.doc["feature_columns"]:
        warnings.append(f"{table.source}: its feature columns differ from the model's")
    params = logged_run_data(model)["params"]
    chosen = params.get(f"chosen.{target}")
    if not chosen:
        raise BadInputError(f"{model.uri}: its run records no chosen candidate (param 'chosen.{target}'); "
                            "cannot rebuild the out-of-fold predictions")
    p, fold = out_of_fold_probabilities(table, config, chosen, progress)
    file = Path(table.source)
    rules = score_lead_table_rules(config, file, scorecard).set_index("lead_id")["points"]
    scored = pd.DataFrame({
        "lead_id": table.ids.to_numpy(),
        "window": "test",
        "fold": fold,
        f"label_{target}": table.y.astype(float),
        f"p_{target}": p,
        "rules_points": rules.reindex(table.ids).to_numpy(dtype=float),
    })
    if learned_card is not None:
        learned = score_lead_table_rules(config, file, learned_card).set_index("lead_id")["points"]
        scored["learned_points"] = learned.reindex(table.ids).to_numpy(dtype=float)
    else:
        warnings.append("learned scorecard: not fitted for a lead-level table (it needs snapshot windows "
                        "and events); its row is left out (pass --learned FILE to compare one)")
    description = {
        "evaluation": "cross_validation", "folds": str(config.lead_table.cv_folds),
        "rows": str(len(scored)), "positives": str(int(table.y.sum())), "source": table.source,
        "chosen": chosen,
    }
    return scored, description, file, warnings


def compare_to_dir(
    out: Path,
    model_ref: str | None = None,
    rules_path: Path | None = None,
    config_path: Path | None = None,
    data_dir: Path | None = None,
    tracking_uri: str | None = None,
    learned_path: Path | None = None,
    n_boot: int = N_BOOT,
    progress: ProgressCallback | None = None,
    mapping=None,
) -> ComparisonOutcome:
    """The `leadq compare` step: model vs rules on the model's test window, written to `out`.

    The data are read with the mapping of the config (logged with the model's run unless
    `config_path` replaces it); `mapping` (a `DataMapping`) replaces it.

    `model_ref` defaults to lead-quality@champion; `rules_path` to
    pipelines/rules/default.yaml; the config to the one logged with the model's run
    (`config_path` replaces it); the data folder to the one logged with the run (`data_dir`
    replaces it). Without `learned_path` a learned scorecard is fitted on the training window.

    With a lead-level table config (a `lead_table` section), `data_dir` is the table's file
    (default `lead_table.path`) and the comparison runs on rebuilt out-of-fold predictions with
    cross-fitted tuned thresholds (see the module docstring); no learned scorecard is fitted.
    """
    total = 7

    def report(step: str, done: int) -> None:
        if progress is not None:
            progress(step, done, total)

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BadInputError(f"{out}: --out must be a folder")
    report("resolving the model and its config", 0)
    scorecard = load_scorecard(rules_path if rules_path is not None else default_rules_path())
    learned_card = load_scorecard(learned_path) if learned_path is not None else None
    tracking_uri = resolve_tracking_uri(tracking_uri)
    store_notes = open_store(tracking_uri, create=False)  # compare reads a model: never creates a store
    model = resolve_model_ref(model_ref, tracking_uri)
    logged_doc = logged_config_doc(model)
    logged = parse_config(logged_doc, f"run {model.run_id}: {CONFIG_ARTIFACT}") if logged_doc else None
    artifacts = load_artifacts(model)
    if config_path is not None:
        config = load_config(config_path)
    elif logged is not None:
        config = logged
    else:
        raise BadInputError(f"{model.uri}: its run has no {CONFIG_ARTIFACT}; pass --config FILE")
    if mapping is not None:
        config = config.model_copy(update={"data": config.data.model_copy(update={"mapping": mapping})})
    lead_table = config.lead_table is not None
    if lead_table:
        targets = [t for t in config.targets[:1] if t in artifacts.targets]
    else:
        folder = _data_dir(data_dir, logged if config_path is None else None, config)
        targets = [t for t in config.targets if t in artifacts.targets]
    if not targets:
        raise BadInputError(f"{model.uri}: predicts {artifacts.targets}, none of the config's targets "
                            f"{config.targets}")

    learned = None
    if lead_table:
        report("rebuilding the out-of-fold predictions of the lead table", 1)
        scored, windows, folder, warnings = _lead_table_scored(
            config, data_dir, model, targets, scorecard, learned_card)
        warnings += _check_rebuilt_window(scored, targets, model)
        tuning = "cross_fold"
    else:
        report("rebuilding the snapshot windows", 1)
        data = load_data(folder, config.data.mapping)
        labelled, split = label_windows(data, config)
        if learned_card is None:
            report("fitting the learned scorecard on the training window", 2)
            learned = fit_learned_scorecard(data, labelled, config, reference=scorecard)
            learned_card = learned.scorecard
        report("scoring validation and test examples", 3)
        scored = _scored_examples(data, labelled, artifacts, targets, scorecard, learned_card)
        warnings = _check_rebuilt_window(scored, targets, model)
        windows = split.summary()
        tuning = "validation"

    inputs = table_inputs(folder, TABLES) if folder is not None else []
    refuse_outputs_over_inputs([out / name for name in COMPARE_FILES],
                               [*inputs, rules_path, config_path, learned_path])
    report("comparing with bootstrap intervals", 4)
    comparison = compare_scored(
        scored, targets, scorecard.thresholds,
        learned_card.thresholds if learned_card is not None else None,
        config.value_per_conversion, config.cost_per_contact, n_boot=n_boot, seed=config.seed,
        tuning=tuning,
    )

    report("writing the report", 5)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        figures = {}
        for target in targets:
            test = scored[(scored["window"] == "test") & scored[f"label_{target}"].notna()]
            rows = comparison.table[comparison.table["target"] == target]
            figures[target] = save_comparison_plots(
                target, test.reset_index(drop=True), comparison.selections[target], tmp,
                dict(zip(rows["method"], rows["threshold"])),
                window="out of fold" if lead_table else "test")
        comparison.table.to_csv(tmp / "comparison.csv", index=False)
        if learned_card is not None:
            learned_yaml = learned.to_yaml() if learned is not None else yaml_dump(learned_card)
            (tmp / "learned_scorecard.yaml").write_text(learned_yaml, encoding="utf-8")
        (tmp / "report.html").write_text(
            report_html(comparison, model, scorecard, config, windows, figures), encoding="utf-8")

        report("logging the comparison to MLflow", 6)
        learned_params = {} if learned_card is None else {
            "learned.mql": str(learned_card.thresholds.mql),
            "learned.sql": str(learned_card.thresholds.sql),
        }
        run_id = log_comparison_run(
            model, config,
            params={
                ("lead_table.path" if lead_table else "data.dir"): redact_url(folder)[:6000],
                "n_boot": str(n_boot), "capacity": "overall top-k", "threshold_tuning": tuning,
                "value_per_conversion": str(config.value_per_conversion),
                "cost_per_contact": str(config.cost_per_contact),
                "rules.mql": str(scorecard.thresholds.mql), "rules.sql": str(scorecard.thresholds.sql),
                **learned_params,
                **{f"split.{k}": str(v)[:6000] for k, v in windows.items()},
            },
            metrics=comparison_metrics(comparison), tuned_thresholds=comparison.tuned_thresholds,
            scorecard_name=scorecard.name, scorecard_yaml=yaml_dump(scorecard), folder=tmp,
        )
        out.mkdir(parents=True, exist_ok=True)
        files = []
        for path in sorted(tmp.iterdir(), key=lambda p: p.name == "report.html"):
            os.replace(path, out / path.name)
            files.append(out / path.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report("done", total)
    return ComparisonOutcome(
        out=out, comparison=comparison, model=model, scorecard=scorecard,
        learned_scorecard=learned_card, learned=learned, config=config, data_dir=folder,
        run_id=run_id, tracking_uri=model.tracking_uri, files=files, scored=scored, windows=windows,
        warnings=[*store_notes, *warnings],
    )
