"""The comparison as people read it: the self-contained HTML report, terminal lines and the
scorecard as YAML."""

from pathlib import Path

import yaml

from leadq.compare.core import LEARNED, Comparison
from leadq.config import PipelineConfig
from leadq.core.html import METRICS as SHOWN
from leadq.core.html import format_cell, format_value, render_report
from leadq.rules.scorecard import Scorecard
from leadq.tracking.model_ref import ModelRef


def target_sections(comparison: Comparison, figures: dict[str, list[tuple[str, Path]]],
                     population: str) -> list:
    """One report section per target: its population, the same-capacity headline, its rows and
    plots. `population` describes the rows, with `{positives}` for the conversion count."""

    sections = []
    for target in comparison.capacity:
        rows = comparison.table[comparison.table["target"] == target]
        s = comparison.summary[target]
        first = rows.iloc[0]
        paragraphs = [
            f"{int(first['n']):,} " + population.format(positives=f"{int(first['positives']):,}")
            + f" (base rate {format_value('base_rate', first['base_rate'])}).",
            f"At the rules' capacity ({s['capacity']:,} leads passed) the model captures "
            f"{format_value('recall', s['recall_model_same_capacity'])} of conversions against "
            f"{format_value('recall', s['recall_rules'])} for the rules: "
            f"{s['recall_gain']:+.0%} (95 % interval {s['recall_gain_lo']:+.0%} to "
            f"{s['recall_gain_hi']:+.0%}).",
        ]
        sections.append((f"Target {target}", paragraphs, rows, figures.get(target, [])))
    return sections


def report_html(comparison: Comparison, model: ModelRef, scorecard: Scorecard,
                config: PipelineConfig, windows: dict[str, str],
                figures: dict[str, list[tuple[str, Path]]]) -> str:
    """The self-contained HTML report: per target the table (the rows of `comparison.csv`)
    and the embedded plots, with the window and the economics it was measured with."""

    if windows.get("evaluation") == "cross_validation":
        return lead_table_report_html(comparison, model, scorecard, config, windows, figures)
    intro = [
        f"Model {model.uri} (version {model.version}) against the scorecard "
        f"'{scorecard.name}' and a learned scorecard, on the test window "
        f"{windows.get('test_first', '?')[:10]} to {windows.get('test_last', '?')[:10]} "
        f"({windows.get('test_cutoffs', '?')} cutoffs {config.snapshots.cadence_days} days apart, "
        f"horizon {config.horizon_days} days); "
        f"thresholds tuned on the validation window {windows.get('validation_first', '?')[:10]} to "
        f"{windows.get('validation_last', '?')[:10]}.",
        f"Expected value = {config.value_per_conversion:g} per conversion passed - "
        f"{config.cost_per_contact:g} per lead passed.",
    ]
    sections = target_sections(comparison, figures, f"test examples, {{positives}} conversions within "
                                f"{config.horizon_days} days")
    notes = [
        "Each cell: the estimate on the test window, then its 95 % bootstrap interval "
        "(1,000 resamples of leads; a lead's rows at all test cutoffs are drawn together; "
        "thresholds held fixed).",
        "recall = share of the test window's conversions that were passed; lift = precision "
        "over the base rate.",
        "model @ same capacity passes as many leads as the rules at their own threshold, "
        "counted over the whole test window (top k by probability), not per cutoff.",
        "Tuned thresholds maximise expected value on the validation window only; test labels "
        "are never used to choose a threshold.",
        "The difference row is model @ same capacity minus rules @ own threshold, paired "
        "on the same resamples.",
    ]
    return render_report("leadq: learned scores against rules", intro, sections, notes)


def lead_table_report_html(comparison: Comparison, model: ModelRef, scorecard: Scorecard,
                            config: PipelineConfig, windows: dict[str, str],
                            figures: dict[str, list[tuple[str, Path]]]) -> str:
    """`report_html` for a lead-level table: out-of-fold predictions over every lead."""

    learned = "and a learned scorecard " if (comparison.table["method"] == LEARNED).any() else ""
    intro = [
        f"Model {model.uri} (version {model.version}, candidate {windows.get('chosen', '?')}) against "
        f"the scorecard '{scorecard.name}' {learned}on the lead-level table {windows.get('source', '?')}: "
        f"out-of-fold predictions over all {windows.get('rows', '?')} leads, on the same "
        f"{windows.get('folds', '?')} seeded stratified folds training used (each lead scored by a "
        "model fitted on the other folds, calibrated across folds).",
        f"Expected value = {config.value_per_conversion:g} per conversion passed - "
        f"{config.cost_per_contact:g} per lead passed.",
    ]
    sections = target_sections(comparison, figures, "leads, {positives} conversions")
    notes = [
        "Each cell: the estimate over all leads (out of fold), then its 95 % bootstrap interval "
        "(1,000 resamples of leads; thresholds and the model's fold fits held fixed).",
        "recall = share of all conversions that were passed; lift = precision over the base rate.",
        "model @ same capacity passes as many leads as the rules at their own threshold: the top k "
        "of the pooled out-of-fold probabilities.",
        "Tuned thresholds are cross-fitted: each fold's leads are passed at the expected-value "
        "threshold chosen on the other folds' out-of-fold scores and labels, never their own; the "
        "table shows the median of the per-fold thresholds.",
        "The difference row is model @ same capacity minus rules @ own threshold, paired "
        "on the same resamples.",
    ]
    return render_report("leadq: learned scores against rules", intro, sections, notes)


def yaml_dump(scorecard: Scorecard) -> str:
    """A scorecard as YAML in its own format."""

    return yaml.safe_dump(scorecard.model_dump(mode="json", exclude_none=True), sort_keys=False)


def describe_comparison(comparison: Comparison, windows: dict[str, str]) -> list[str]:
    """The comparison as terminal lines: one table per target and a summary line."""
    from leadq.core.html import format_value

    lines = []
    table = comparison.table
    for target in comparison.capacity:
        rows = table[table["target"] == target]
        first = rows.iloc[0]
        kind = ("leads (out of fold)" if windows.get("evaluation") == "cross_validation"
                else "test examples")
        lines.append(f"{target}: {int(first['n']):,} {kind}, {int(first['positives']):,} "
                     f"conversions (base rate {format_value('base_rate', first['base_rate'])})")
        cells = [["", "threshold", *(m.replace("_", " ") for m in SHOWN)]]
        for _, row in rows.iterrows():
            cells.append([row["method"], format_value("threshold", row["threshold"]),
                          *(format_cell(row, m) for m in SHOWN)])
        widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
        for r in cells:
            lines.append("  " + "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        s = comparison.summary[target]
        lines.append(
            f"  at the rules' capacity ({s['capacity']:,} leads) the model captures "
            f"{s['recall_gain']:+.0%} conversions (95 % interval {s['recall_gain_lo']:+.0%} to "
            f"{s['recall_gain_hi']:+.0%}); recall difference {s['recall_difference']:+.3f} "
            f"[{s['recall_difference_lo']:+.3f}, {s['recall_difference_hi']:+.3f}]"
        )
        lines.append("")
    return lines
