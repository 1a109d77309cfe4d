"""Reading the score files `leadq monitor` is given: folders, checks, runs found twice."""

import pandas as pd
import pytest

from leadq.core.errors import BadInputError
from leadq.steps.monitor import collect_runs, read_scores, score_files


def scores(as_of: str, version: str = "1", name: str = "lead-quality", n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"lead_id": [f"L{i}" for i in range(n)], "current_stage": "lead",
                         "p_mql": 0.2, "p_sql": 0.1, "score": 10, "stage": "nurture", "reasons": "",
                         "model_name": name, "model_version": version,
                         "as_of": pd.Timestamp(as_of, tz="UTC").isoformat(), "scored_at": "x"})


def test_a_folder_gives_its_score_files_only(tmp_path):
    scores("2026-05-01").to_csv(tmp_path / "b.csv", index=False)
    scores("2026-05-08").to_parquet(tmp_path / "a.parquet", index=False)
    (tmp_path / "b.csv.report.json").write_text("{}")
    (tmp_path / ".b.csv.123.tmp").write_text("")
    assert [p.name for p in score_files([tmp_path])] == ["a.parquet", "b.csv"]
    frame = read_scores(tmp_path / "a.parquet")
    assert frame["as_of"].dt.tz is not None and frame["model_version"].iloc[0] == "1"
    with pytest.raises(BadInputError, match="no such score file"):
        score_files([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInputError, match="no .csv or .parquet score files"):
        score_files([tmp_path / "empty"])


def test_scores_are_checked(tmp_path):
    scores("2026-05-01").drop(columns="stage").to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(BadInputError, match="a.csv: required column 'stage' is missing in all 3 rows"):
        read_scores(tmp_path / "a.csv")
    scores("2026-05-01").assign(as_of=["2026-05-01", "soon", None]).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(BadInputError, match="b.csv: column 'as_of' has 2 of 3 rows missing or unparseable"):
        read_scores(tmp_path / "b.csv")
    scores("2026-05-01", name="runs:/abc/model").to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(BadInputError, match="not a registered model"):
        collect_runs([tmp_path / "c.csv"])


def test_a_scoring_run_found_twice_is_counted_once(tmp_path):
    scores("2026-05-01").to_csv(tmp_path / "a.csv", index=False)
    pd.concat([scores("2026-05-01", n=5), scores("2026-05-08")]).to_csv(tmp_path / "b.csv", index=False)
    scores("2026-05-01", version="2").to_csv(tmp_path / "c.csv", index=False)
    runs, warnings = collect_runs(score_files([tmp_path]))
    assert set(runs) == {("lead-quality", "1"), ("lead-quality", "2")}
    kept = runs[("lead-quality", "1")]
    assert [(path.name, len(rows)) for path, rows in kept] == [("b.csv", 8)]
    assert len(warnings) == 1 and "a.csv" in warnings[0] and "those of b.csv are used" in warnings[0]
