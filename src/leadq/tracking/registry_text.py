"""What the registry says about a model and each of its versions, in words and tags.

Pure functions: training facts in, the registered model's description, a version's description
and tags out; and back, a version's tags to the verdict and the figures `leadq models` shows.
`leadq.tracking.registry_record` writes and reads them through MLflow.

Version tags (what the MLflow UI lists on a version page):

| tag | value |
| --- | --- |
| `targets`, `horizon_days`, `input` | what the version predicts and from what |
| `data.range`, `data.rows`, `data.fingerprint` | the training data: dates, sizes, content hash |
| `evaluation` | `test window` or `k-fold cross-validation` |
| `test.<target>.<metric>` (`cv.` when cross-validated) | key held-out figures, 4 decimals |
| `gate.verdict`, `gate.reason` | the quality gate's decision and both numbers it compared |
| `promoted_by`, `promoted_at`, `promoted_from` | a promotion by hand (`leadq promote`) |
| `realized.<target>.<metric>`, `realized.as_of`, `monitor.verdict` | set by monitoring |
"""

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leadq.config import PipelineConfig
    from leadq.features.spec import FeatureSpec
    from leadq.models.train import TrainResult

EVENT_TABLES = "event tables"
LEAD_TABLE = "lead table"
KEY_METRICS = ("roc_auc", "pr_auc", "log_loss")
DESCRIBED_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece")
METRIC_LABELS = {
    "roc_auc": "ROC AUC", "pr_auc": "PR AUC", "log_loss": "log loss", "brier": "Brier",
    "ece": "ECE",
}
GATE_VERDICT = "gate.verdict"
GATE_REASON = "gate.reason"
PROMOTED_BY = "promoted_by"
PROMOTED_AT = "promoted_at"
PROMOTED_FROM = "promoted_from"
REALIZED_PREFIX = "realized."
REALIZED_AS_OF = "realized.as_of"
MONITOR_VERDICT = "monitor.verdict"
PROMOTED = "promoted"
NOT_PROMOTED = "not promoted"
INCOMPLETE = "incomplete"
DESCRIPTION_LIMIT = 5000
"""MLflow's SQL stores hold descriptions in a 5,000-character column."""


@dataclass(frozen=True)
class TrainingFacts:
    """What one training produced, as the registry describes it."""

    model_name: str
    targets: tuple[str, ...]
    horizon_days: int | None
    """None for a lead table: its label is a flag, not a stage reached within a horizon."""
    input_kind: str
    features: str
    """The feature spec in one line."""
    data_range: str | None
    data_rows: str
    fingerprint: str
    evaluation: str
    """'time_split' or 'cross_validation'."""
    evaluation_window: str
    metrics: dict[str, dict[str, float]]
    chosen: dict[str, str]
    thresholds: dict[str, float]
    promotion_metric: str
    margin: float
    run_id: str
    label_column: str | None = None
    id_column: str | None = None
    cv_spread: dict[str, str] = field(default_factory=dict)


def describe_spec(spec: "FeatureSpec") -> str:
    """A feature spec in one line."""
    columns = spec.feature_columns()
    numeric = [c for c in spec.numeric_attributes if c in columns]
    categorical = [c for c in spec.categorical_attributes if c in columns]
    attributes = f"{len(numeric)} numeric and {len(categorical)} categorical attributes"
    if not spec.include_engagement:
        return f"{len(columns)} features: {attributes}"
    windows = "/".join(str(d) for d in spec.windows_days)
    journey = " > ".join(spec.journey_types)
    excluded = [c for c in spec.exclude_features if c in set(spec.engagement_columns())
                or c in {"lead_age_days", *spec.numeric_attributes, *spec.categorical_attributes}]
    text = (
        f"{len(columns)} features: counts of {len(spec.event_types)} event types over "
        f"{windows} days and all time, time on site, recency of {len(spec.recency_types)} types, "
        f"active days and sessions ({spec.session_gap_minutes:g}-minute gap), "
        f"{spec.return_event_type} returns, breadth, trend, journey stage ({journey}); "
        f"lead age; {attributes}"
    )
    return text + (f"; {len(excluded)} features left out" if excluded else "")


def data_summary(fingerprint: dict[str, Any]) -> tuple[str | None, str, str]:
    """(date range, row counts, 16-hex content fingerprint) of a data fingerprint: the event
    tables' (`leadq.data.load.LoadedData.fingerprint`) or a lead table's (`{"lead_table": ...}`)."""
    if "lead_table" in fingerprint:
        table = fingerprint["lead_table"]
        return None, f"{int(table.get('rows', 0)):,} rows", str(table.get("sha256", ""))[:16]
    tables = [t for t in ("leads", "events", "outcomes") if t in fingerprint]
    rows = ", ".join(f"{int(fingerprint[t]['rows']):,} {t}" for t in tables)
    digest = hashlib.sha256(
        json.dumps({t: fingerprint[t].get("hash") for t in tables}, sort_keys=True).encode()
    ).hexdigest()[:16]
    dated = fingerprint.get("events") or fingerprint.get("leads") or {}
    first, last = dated.get("first"), dated.get("last")
    span = f"{first[:10]} to {last[:10]}" if first and last else None
    return span, rows, digest


def _evaluation_window(result: "TrainResult") -> str:
    if result.evaluation == "cross_validation":
        folds = int(result.extra_metrics.get("cv_folds", 0))
        return f"{folds}-fold cross-validation over {result.window_rows.get('all', 0):,} rows"
    summary = result.split.summary() if result.split is not None else {}
    if not summary:
        return "test window"
    return (f"test window: {summary['test_cutoffs']} cutoffs {summary['test_first'][:10]} to "
            f"{summary['test_last'][:10]}, {result.window_rows.get('test', 0):,} examples")


def training_facts(result: "TrainResult", config: "PipelineConfig", fingerprint: dict[str, Any] | None,
                   run_id: str) -> TrainingFacts:
    """The facts of one training: its result and config, the data fingerprint logged with the run
    (`leadq.data.load.LoadedData.fingerprint`, or a lead table's) and the run id."""
    data_range, data_rows, digest = data_summary(fingerprint or {})
    lead_table = result.lead_table
    if data_range is None and result.split is not None:
        summary = result.split.summary()
        data_range = f"cutoffs {summary['train_first'][:10]} to {summary['test_last'][:10]}"
    spread = {}
    for name in KEY_METRICS:
        mean, std = result.extra_metrics.get(f"cv_{name}_mean"), result.extra_metrics.get(f"cv_{name}_std")
        if mean is not None and std is not None:
            spread[name] = f"{mean:.4f} ± {std:.4f}"
    return TrainingFacts(
        model_name=config.registry.model_name,
        targets=tuple(result.targets),
        horizon_days=None if lead_table is not None else int(config.horizon_days),
        input_kind=LEAD_TABLE if lead_table is not None else EVENT_TABLES,
        features=describe_spec(result.spec),
        data_range=data_range,
        data_rows=data_rows,
        fingerprint=digest,
        evaluation=result.evaluation,
        evaluation_window=_evaluation_window(result),
        metrics={t: {k: float(v) for k, v in tm.test.items()} for t, tm in result.targets.items()},
        chosen={t: tm.chosen for t, tm in result.targets.items()},
        thresholds={t: float(tm.threshold) for t, tm in result.targets.items()},
        promotion_metric=config.registry.promotion_metric,
        margin=float(config.registry.margin),
        run_id=run_id,
        label_column=lead_table.get("label_column") if lead_table else None,
        id_column=lead_table.get("id_column") if lead_table else None,
        cv_spread=spread,
    )


def _what_it_predicts(facts: TrainingFacts) -> str:
    targets = " and ".join(f"**{t}**" for t in facts.targets)
    if facts.horizon_days is None:
        label = f" (label column `{facts.label_column}`)" if facts.label_column else ""
        return f"the probability that a lead is positive for {targets}{label}"
    return (f"for each open lead, the probability of reaching {targets} within "
            f"**{facts.horizon_days} days** of the scoring cutoff")


def model_description(facts: TrainingFacts) -> str:
    """The registered model's description (Markdown): what it predicts, the feature spec, the
    input kind and how to score with it. Depends on the configuration only, not on a version."""
    if facts.input_kind == LEAD_TABLE:
        source = (f"a lead table, one row per lead (id column `{facts.id_column}`, label column "
                  f"`{facts.label_column}`)")
        data, out = "LEADS_FILE", "scores.csv"
    else:
        source = "event tables: `leads`, `events` and `outcomes` (CSV or Parquet)"
        data, out = "DATA_DIR", "scores.parquet"
    lines = [
        f"Predicts {_what_it_predicts(facts)}.",
        "",
        f"- **Features:** {facts.features}.",
        f"- **Input:** {source}.",
        f"- **Score:** `leadq predict --model {facts.model_name}@champion --data {data} --out {out}`",
        f"- **Champion:** a new version takes the `champion` alias when its {facts.promotion_metric} "
        f"beats the champion's on the same held-out data by more than {facts.margin:g} "
        "(quality gate), or by `leadq promote`; every new version is `challenger`.",
        "",
        "Each version's description and tags give its training data, held-out figures and the "
        "gate's verdict.",
    ]
    return "\n".join(lines)


def _metrics_table(facts: TrainingFacts) -> list[str]:
    shown = [m for m in DESCRIBED_METRICS if any(m in facts.metrics[t] for t in facts.targets)]
    header = ["target", "model", *(METRIC_LABELS[m] for m in shown), "threshold"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for t in facts.targets:
        cells = [t, facts.chosen.get(t, "")]
        cells += [f"{facts.metrics[t][m]:.4f}" if m in facts.metrics[t] else "" for m in shown]
        cells.append(f"{facts.thresholds[t]:.3f}" if t in facts.thresholds else "")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def version_summary(facts: TrainingFacts, verdict: str) -> str:
    """One plain line (what MLflow's version list shows of a description): the verdict, the
    held-out ROC AUC per target and the data's dates."""
    kind = "cv" if facts.evaluation == "cross_validation" else "test"
    figures = ", ".join(f"{t} {facts.metrics[t]['roc_auc']:.4f}" for t in facts.targets
                        if "roc_auc" in facts.metrics[t])
    parts = [verdict, f"{kind} ROC AUC {figures}" if figures else "", facts.data_range or ""]
    return " · ".join(p for p in parts if p)


def version_description(facts: TrainingFacts, version: str, verdict: str, gate_reason: str) -> str:
    """A version's description (Markdown): a summary line, what it predicts, the gate's verdict
    and reason, the training data and the held-out figures per target."""
    kind = "out-of-fold (cross-validated)" if facts.evaluation == "cross_validation" else "test"
    lines = [
        version_summary(facts, verdict),
        "",
        f"**Version {version}** predicts {_what_it_predicts(facts)}.",
        "",
        f"**Gate:** {gate_reason}",
        "",
        f"**Data:** {facts.input_kind}, {facts.data_range or 'no dates'}; {facts.data_rows}; "
        f"fingerprint `{facts.fingerprint}`.",
        "",
        f"**Held out:** {facts.evaluation_window}; {kind} figures:",
        "",
        *_metrics_table(facts),
    ]
    if facts.cv_spread:
        spread = ", ".join(f"{METRIC_LABELS[m]} {v}" for m, v in facts.cv_spread.items())
        lines += ["", f"Per fold (mean ± sd): {spread}."]
    lines += ["", f"Run `{facts.run_id}` holds the config, the data fingerprint, the plots and the "
              "leakage audit."]
    return clip_description("\n".join(lines))


def metric_prefix(facts: TrainingFacts) -> str:
    """`cv` for cross-validated figures, else `test`."""
    return "cv" if facts.evaluation == "cross_validation" else "test"


def version_tags(facts: TrainingFacts, verdict: str, gate_reason: str) -> dict[str, str]:
    """A version's tags (see the module docstring); `verdict` is 'promoted' or 'not promoted'."""
    tags = {
        "targets": ",".join(facts.targets),
        "input": facts.input_kind,
        "data.rows": facts.data_rows,
        "data.fingerprint": facts.fingerprint,
        "evaluation": ("k-fold cross-validation" if facts.evaluation == "cross_validation"
                       else "test window"),
        GATE_VERDICT: verdict,
        GATE_REASON: gate_reason,
    }
    if facts.horizon_days is not None:
        tags["horizon_days"] = str(facts.horizon_days)
    if facts.data_range:
        tags["data.range"] = facts.data_range
    prefix = metric_prefix(facts)
    for t in facts.targets:
        for m in KEY_METRICS:
            if m in facts.metrics[t]:
                tags[f"{prefix}.{t}.{m}"] = f"{facts.metrics[t][m]:.4f}"
    return tags


def promotion_tags(user: str, when_utc: str, previous: str | None) -> dict[str, str]:
    """The tags recording a promotion by hand (who, when, which version was champion)."""
    return {PROMOTED_BY: user, PROMOTED_AT: when_utc, PROMOTED_FROM: previous or "none"}


def promotion_line(user: str, when_utc: str, previous: str | None) -> str:
    """The description line recording a promotion by hand."""
    was = f" (champion was version {previous})" if previous else " (there was no champion)"
    return f"**Promoted by hand** to champion by {user} at {when_utc}{was}."


def clip_description(text: str) -> str:
    """`text` cut to what MLflow's SQL stores hold, with an ellipsis when cut."""
    return text if len(text) <= DESCRIPTION_LIMIT else text[: DESCRIPTION_LIMIT - 1] + "…"


def gate_verdict(tags: dict[str, str], run_tags: dict[str, str] | None = None, version: str | None = None) -> str:
    """'promoted', 'not promoted' or 'incomplete' (registered, but the gate's decision was
    never recorded: the training stopped right after registering). Versions registered before
    version tags existed have their decision in their run's `leadq.gate.*` tags."""
    if tags.get(GATE_VERDICT):
        return tags[GATE_VERDICT]
    run_tags = run_tags or {}
    if run_tags.get("leadq.gate.promoted") and run_tags.get("leadq.gate.version") == str(version):
        return PROMOTED if run_tags["leadq.gate.promoted"] == "True" else NOT_PROMOTED
    return INCOMPLETE


def gate_reason(tags: dict[str, str], run_tags: dict[str, str] | None = None, version: str | None = None) -> str:
    """The gate's reason from the version's tags (or its run's, for older versions); '' if none."""
    if tags.get(GATE_REASON):
        return tags[GATE_REASON]
    run_tags = run_tags or {}
    if run_tags.get("leadq.gate.version") == str(version):
        return run_tags.get("leadq.gate.reason", "")
    return ""


def realized_figures(tags: dict[str, str]) -> str:
    """Monitoring's latest realized figures, e.g. 'sql ROC AUC 0.8012, log loss 0.1043 as of
    2026-07-31; verdict ok'; '' when the version has none."""
    per_target: dict[str, dict[str, str]] = {}
    for key, value in tags.items():
        if not key.startswith(REALIZED_PREFIX) or key == REALIZED_AS_OF:
            continue
        parts = key.removeprefix(REALIZED_PREFIX).split(".", 1)
        if len(parts) == 2:
            per_target.setdefault(parts[0], {})[parts[1]] = value
    pieces = []
    for target in sorted(per_target):
        metrics = per_target[target]
        names = [m for m in KEY_METRICS if m in metrics] or sorted(metrics)[:3]
        pieces.append(f"{target} " + ", ".join(
            f"{METRIC_LABELS.get(m, m)} {_short_number(metrics[m])}" for m in names))
    text = "; ".join(pieces)
    if text and tags.get(REALIZED_AS_OF):
        text += f" as of {tags[REALIZED_AS_OF][:10]}"
    if tags.get(MONITOR_VERDICT):
        text += f"{'; ' if text else ''}verdict {tags[MONITOR_VERDICT]}"
    return text


def _short_number(value: str) -> str:
    try:
        return f"{float(value):.4f}"
    except ValueError:
        return value


def _metric_columns(overview: Any) -> dict[str, list[tuple[str, str]]]:
    """Per target, the overview's (column, metric label) of its key test metrics."""
    found: dict[str, list[tuple[str, str]]] = {}
    for m in KEY_METRICS:
        for column in overview.columns:
            if column.startswith(f"test_{m}_"):
                target = column.removeprefix(f"test_{m}_")
                found.setdefault(target, []).append((column, METRIC_LABELS[m]))
    return dict(sorted(found.items()))


def _figure(value: Any) -> str:
    return "" if value is None or value != value else f"{value:.4f}"  # NaN != NaN


def versions_table(overview: Any, name: str) -> Any:
    """A Rich table of `leadq.tracking.registry_record.versions_overview`: one row per version with its
    aliases, training date, data, key held-out figures per target, the gate's verdict (and a
    promotion by hand) and, when monitored, the latest realized figures."""
    from rich.table import Table

    table = Table(title=f"{name}: registered versions", title_justify="left")
    metrics = _metric_columns(overview)
    show_realized = bool(len(overview)) and bool(overview["realized"].astype(bool).any())
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("aliases")
    table.add_column("trained (UTC)", no_wrap=True)
    table.add_column("data", no_wrap=True)
    for target in metrics:
        table.add_column(f"{target} (held out)", no_wrap=True)
    table.add_column("gate", no_wrap=True)
    if show_realized:
        table.add_column("realized")
    styles = {PROMOTED: "green", NOT_PROMOTED: "yellow", INCOMPLETE: "bold red"}
    for row in overview.to_dict("records"):
        figures = []
        for columns in metrics.values():
            width = max(len(label) for _, label in columns)
            figures.append("\n".join(f"{label:<{width}} {_figure(row.get(c))}" for c, label in columns
                                     if _figure(row.get(c))))
        gate = f"[{styles[row['gate']]}]{row['gate']}[/]" if row["gate"] in styles else row["gate"]
        if row.get("promoted_by"):
            gate += f"\nby hand: {row['promoted_by']}\n{str(row['promoted_at'])[:16]}"
        cells = [str(row["version"]), (row["aliases"] or "").replace(", ", "\n"),
                 row["created_at"].strftime("%Y-%m-%d %H:%M"),
                 "\n".join(x for x in (row["data_range"], row["fingerprint"]) if x), *figures, gate]
        if show_realized:
            cells.append(row["realized"].replace("; ", "\n").replace(" as of ", "\nas of "))
        table.add_row(*cells)
    return table


def gate_notes(overview: Any) -> list[str]:
    """One line per version: the gate's reason, or why the version is incomplete."""
    lines = []
    for row in overview.to_dict("records"):
        if row["gate"] == INCOMPLETE:
            reason = ("registered without a recorded gate decision (the training stopped right after "
                      "registering); `leadq promote` it or train again")
        else:
            reason = row["reason"] or row["gate"]
        lines.append(f"v{row['version']}: {reason}")
    return lines
