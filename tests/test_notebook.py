"""The learned-vs-rules notebook runs top to bottom on small data."""

import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "learned_vs_rules.ipynb"


def test_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


@pytest.mark.slow
def test_notebook_executes(tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("LEADQ_NOTEBOOK_LEADS", "1000")  # small: the test checks it runs and agrees with itself
    monkeypatch.setenv("LEADQ_NOTEBOOK_DIR", str(tmp_path))
    monkeypatch.setenv("LEADQ_RULES", str(NOTEBOOK.parents[1] / "pipelines" / "rules" / "default.yaml"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                      resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    text = "".join(out.get("text", "") for cell in notebook.cells for out in cell.get("outputs", []))
    # the summary it prints is the comparison it wrote: same capacity per target as the rules
    capacities = [int(n.replace(",", "")) for n in re.findall(r"at the rules' capacity \(([\d,]+) leads\)", text)]
    table = pd.read_csv(tmp_path / "compare" / "comparison.csv")
    rules = table[table["method"] == "rules @ own threshold"].set_index("target")
    assert capacities == [int(rules.loc[t, "leads_passed"]) for t in ("mql", "sql")]
    html = (tmp_path / "compare" / "report.html").read_text()
    assert all(f"{n:,}" in html for n in capacities)
