"""`--engine spark` gives the in-process results: the same features file and the same scores.

The session-scoped `spark` fixture (tests/conftest.py) is active when the commands run; they
find it and reuse it (as they would reuse spark-submit's), so the JVM starts once per run.
"""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'leadq[spark]')")
if not shutil.which("java"):
    pytest.skip("no Java runtime on PATH (the Spark engine needs Java 17+)", allow_module_level=True)

from leadq.cli import app  # noqa: E402

pytestmark = pytest.mark.slow  # trains the shared model and starts Spark
runner = CliRunner()
AS_OF = "2026-06-01"


def _run(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def test_predict_on_spark_gives_the_in_process_scores(spark, trained, tmp_path):
    common = ["--data", str(trained.data_dir), "--as-of", AS_OF, "--tracking-uri", trained.tracking_uri]
    _run(["predict", *common, "--out", str(tmp_path / "duck.parquet")])
    done = _run(["predict", *common, "--out", str(tmp_path / "spark.parquet"), "--engine", "spark"])
    assert "leads scored" in done.stdout
    want = pd.read_parquet(tmp_path / "duck.parquet")
    got = pd.read_parquet(tmp_path / "spark.parquet")
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want) > 100
    assert list(got["lead_id"]) == list(want["lead_id"])
    for name in [c for c in want.columns if c.startswith("p_")]:
        assert got[name].isna().any() == want[name].isna().any()
        np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=0, equal_nan=True, err_msg=name)
    for name in ("current_stage", "score", "stage", "reasons", "model_name", "model_version", "as_of"):
        assert list(got[name]) == list(want[name]), name
    reports = [json.loads((tmp_path / f"{e}.parquet.report.json").read_text()) for e in ("duck", "spark")]
    assert [r["engine"] for r in reports] == ["duckdb", "spark"]
    assert reports[1]["leads_scored"] == reports[0]["leads_scored"] == len(want)
    assert reports[1]["stage_share"] == pytest.approx(reports[0]["stage_share"], abs=1e-12)
    assert reports[1]["psi"] == pytest.approx(reports[0]["psi"], rel=1e-9)
    assert spark.getActiveSession() is not None  # the command left the caller's session running


def test_features_on_spark_gives_the_duckdb_file(spark, trained, tmp_path):
    common = ["features", "--data", str(trained.data_dir), "--as-of", AS_OF]
    _run([*common, "--out", str(tmp_path / "duck.parquet")])
    _run([*common, "--out", str(tmp_path / "spark.parquet"), "--engine", "spark"])
    want = pd.read_parquet(tmp_path / "duck.parquet")
    got = pd.read_parquet(tmp_path / "spark.parquet")
    assert list(got.columns) == list(want.columns) and list(got["lead_id"]) == list(want["lead_id"])
    numeric = want.select_dtypes("number").columns
    np.testing.assert_allclose(got[numeric], want[numeric], rtol=1e-9, atol=0, equal_nan=True)
    other = [c for c in want.columns if c not in numeric]
    assert got[other].astype(object).where(got[other].notna(), None).equals(
        want[other].astype(object).where(want[other].notna(), None))
