"""A self-contained HTML report: tables rendered from a DataFrame, PNG plots embedded as
base64 data URIs (no external file, script or stylesheet), so the one file can be mailed.

`format_value` is the single formatting rule for the comparison's numbers: the HTML table, the
terminal table and the tests all use it, so what the report shows is what `comparison.csv` holds.
"""

import base64
import html
import math
from pathlib import Path

import pandas as pd

METRICS = ("leads_passed", "precision", "recall", "lift", "expected_value")
METRIC_TITLES = {
    "leads_passed": "leads passed",
    "precision": "precision",
    "recall": "recall",
    "lift": "lift",
    "expected_value": "expected value",
}

_STYLE = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.35em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.difference td { font-style: italic; background: #f6f6f6; }
.ci { color: #777; font-size: 0.85em; white-space: nowrap; }
.figures img { max-width: 32%; margin: 0.3em; border: 1px solid #eee; }
.notes li { margin: 0.2em 0; }
"""


def format_value(metric: str, value) -> str:
    """One number as the report shows it: counts and money with thousands separators,
    shares as percentages with one decimal, lift with two decimals, thresholds with up to
    four significant digits; missing as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    value = float(value)
    if metric == "leads_passed":
        return f"{value:,.0f}"
    if metric in ("precision", "recall", "base_rate"):
        return f"{value:.1%}"
    if metric == "lift":
        return f"{value:.2f}"
    if metric == "expected_value":
        return f"{value:,.0f}"
    return f"{value:.4g}"


def format_cell(row: pd.Series, metric: str) -> str:
    """'value [low, high]' for a metric of one table row (plain text)."""
    text = format_value(metric, row[metric])
    low, high = row.get(f"{metric}_lo"), row.get(f"{metric}_hi")
    if low is None or high is None or (pd.isna(low) and pd.isna(high)):
        return text
    return f"{text} [{format_value(metric, low)}, {format_value(metric, high)}]"


def image_data_uri(path: Path) -> str:
    """A PNG file as a `data:image/png;base64,...` URI."""
    encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{encoded}"


def table_html(rows: pd.DataFrame, label_column: str = "method") -> str:
    """An HTML table of the comparison rows: label, threshold, then each metric with its
    95 % interval."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in
                   ["", "threshold", *(METRIC_TITLES[m] for m in METRICS)])
    body = []
    for _, row in rows.iterrows():
        kind = " class=\"difference\"" if row.get("kind") == "difference" else ""
        cells = [f"<td>{html.escape(str(row[label_column]))}</td>",
                 f"<td>{html.escape(format_value('threshold', row.get('threshold')))}</td>"]
        for metric in METRICS:
            value = html.escape(format_value(metric, row[metric]))
            low, high = row.get(f"{metric}_lo"), row.get(f"{metric}_hi")
            interval = ""
            if not (pd.isna(low) and pd.isna(high)):
                interval = (f" <span class=\"ci\">[{html.escape(format_value(metric, low))}, "
                            f"{html.escape(format_value(metric, high))}]</span>")
            cells.append(f"<td>{value}{interval}</td>")
        attrs = (f" data-target=\"{html.escape(str(row.get('target', '')))}\""
                 f" data-method=\"{html.escape(str(row[label_column]))}\"")
        body.append(f"<tr{kind}{attrs}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_report(
    title: str,
    intro: list[str],
    sections: list[tuple[str, list[str], pd.DataFrame, list[tuple[str, Path]]]],
    notes: list[str],
) -> str:
    """The whole HTML document.

    `sections` holds, per heading: paragraphs (plain text), the table rows and the
    (caption, PNG path) figures, embedded as data URIs.
    """
    parts = [
        "<!DOCTYPE html>",
        "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f"<p>{html.escape(line)}</p>" for line in intro]
    for heading, paragraphs, rows, figures in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts += [f"<p>{html.escape(line)}</p>" for line in paragraphs]
        parts.append(table_html(rows))
        if figures:
            parts.append("<div class=\"figures\">")
            for caption, path in figures:
                parts.append(f"<img alt=\"{html.escape(caption)}\" title=\"{html.escape(caption)}\" "
                             f"src=\"{image_data_uri(path)}\">")
            parts.append("</div>")
    if notes:
        parts.append("<h2>How to read this</h2><ul class=\"notes\">")
        parts += [f"<li>{html.escape(line)}</li>" for line in notes]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def html_page(title: str, body: list[str], extra_style: str = "") -> str:
    """A whole self-contained document in the reports' style: `title` as its heading, then the
    `body` fragments (HTML, escaped by the caller), with `extra_style` CSS added."""
    return "\n".join([
        "<!DOCTYPE html>",
        "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{html.escape(title)}</title><style>{_STYLE}{extra_style}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        *body,
        "</body></html>",
    ]) + "\n"
