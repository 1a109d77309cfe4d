"""Lead-level exports read by DuckDB: any CSV dialect, placeholders, types, empty and constant
columns, and scoring reading exactly what training used."""

import numpy as np
import pandas as pd
import pytest

from leadq.config import parse_config
from leadq.core.errors import BadInputError
from leadq.features.lead_table import load_lead_table, read_for_scoring, read_raw

FAST = {"hist_gradient_boosting": {"max_iter": 30}, "logistic": {"enabled": False}, "importance_rows": 100,
        "min_positives": 5}


def _config(path, **lead_table):
    return parse_config({
        "lead_table": {"path": str(path), "id_column": "Lead ID", "label_column": "Converted", **lead_table},
        "targets": ["converted"], "candidates": FAST, "audit": {"enabled": False},
        "registry": {"model_name": "reader-test", "promotion_metric": "test_log_loss_converted"},
    }, "test config")


EUROPEAN = (
    "Lead ID;Converted;Umsatz (EUR);Land;Notiz;Status;Quelle\n"
    "  L1 ;Ja;1.234,50;Österreich;;offen;Web\n"
    "L2;nein;12,25;Deutschland;;offen;Select\n"
    "L3;1;7;Schweiz;;offen;Messe\n"
    "L4;0;Select;Österreich;;offen;Web\n"
)


def test_a_european_export_is_read_with_its_dialect_and_constant_columns_are_left_out(tmp_path):
    path = tmp_path / "export.csv"
    text = EUROPEAN.replace("Ja", "yes").replace("nein", "no")
    path.write_bytes(text.encode("latin-1"))
    table = load_lead_table(_config(path))
    assert table.ids.tolist() == ["L1", "L2", "L3", "L4"]
    np.testing.assert_array_equal(table.y, [1, 0, 1, 0])
    np.testing.assert_array_equal(table.features["Umsatz (EUR)"], [1234.5, 12.25, 7.0, np.nan])
    assert table.features["Land"].tolist() == ["Österreich", "Deutschland", "Schweiz", "Österreich"]
    assert table.features["Quelle"].tolist() == ["Web", None, "Messe", "Web"]
    np.testing.assert_array_equal(table.features["missing_fields"], [0, 1, 0, 1])
    assert table.doc["unused_columns"] == {"Notiz": "empty in every row", "Status": "'offen' in every row"}
    assert table.spec.feature_columns() == ["Umsatz (EUR)", "missing_fields", "Land", "Quelle"]
    assert [line.split(": ", 1)[1] for line in table.report] == [
        f"not UTF-8 (byte 0xd6 at offset {text.index('Ö')}): read as Latin-1; set csv.encoding in the "
        "mapping if that is wrong",
        "column 'Notiz' is empty in every row: not used",
        "column 'Status' is 'offen' in every row: not used",
    ]


def test_a_semicolon_file_read_as_commas_says_the_delimiter_not_a_missing_id(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Lead ID;Converted;Visits\nL1;1;3\nL2;0;4\n")
    with pytest.raises(BadInputError) as caught:
        load_lead_table(_config(path, csv={"delimiter": ","}))
    message = caught.value.message
    assert message.startswith(f"{path}: the header is one column 'Lead ID;Converted;Visits' holding ';'")
    assert "missing" not in message
    assert load_lead_table(_config(path)).features["Visits"].tolist() == [3.0, 4.0]  # sniffed: fine


def test_parquet_keeps_types_and_epoch_timestamps_parse(tmp_path):
    path = tmp_path / "export.parquet"
    pd.DataFrame({"Lead ID": [101, 102, 103, 104], "Converted": [True, False, True, False],
                  "Score": [1.5, np.inf, 3.0, None], "Tier": [1, 2, 1, 2], "Flag": [True, False, None, True],
                  "Created": [1772373906000, 1772373907000, None, 1772373909000]}).to_parquet(path)
    table = load_lead_table(_config(path, timestamp_column="Created", timestamp_format="epoch_ms",
                                    column_types={"Tier": "categorical"}, max_bad_fraction=0.3))
    assert table.ids.tolist() == ["101", "102", "104"] and table.y.tolist() == [1.0, 0.0, 0.0]
    np.testing.assert_array_equal(table.features["Score"], [1.5, np.nan, np.nan])  # infinity: missing
    assert table.features["Tier"].tolist() == ["1", "2", "2"] and table.features["Flag"].tolist() == [
        "true", "false", "true"]
    assert table.timestamps.tolist() == [pd.Timestamp(1772373906, unit="s", tz="UTC"),
                                        pd.Timestamp(1772373907, unit="s", tz="UTC"),
                                        pd.Timestamp(1772373909, unit="s", tz="UTC")]
    assert table.report == [f"{path}: dropped 1 rows with a missing or unparseable 'Created'"]


def test_scoring_reads_only_what_the_model_uses_row_for_row(tmp_path):
    rng = np.random.default_rng(4)
    n = 300
    frame = pd.DataFrame({"Lead ID": [f"L{i}" for i in range(n)], "Converted": rng.choice(["yes", "no"], n),
                          "Visits": rng.integers(0, 9, n).astype(str), "Source": rng.choice(["a", "b", "Select"], n),
                          "Extra": "x"})
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    table = load_lead_table(_config(path))
    shuffled = frame.sample(frac=1, random_state=1).drop(columns=["Converted", "Extra"])
    shuffled.loc[shuffled.index[0], "Lead ID"] = "  "  # a row without an id is dropped, with a line
    scoring_path = tmp_path / "new.csv"
    shuffled.to_csv(scoring_path, index=False)
    scored = read_for_scoring(scoring_path, table.doc)
    assert list(scored.raw.columns) == ["Lead ID"]
    assert scored.report == [f"{scoring_path}: dropped 1 rows with a missing 'Lead ID'"]
    by_id = table.features.set_index(table.ids.to_numpy())
    # scoring holds categories as pandas Categoricals: the same labels, missing the same
    assert isinstance(scored.features["Source"].dtype, pd.CategoricalDtype)
    as_labels = scored.features.assign(Source=scored.features["Source"].astype(object).where(
        scored.features["Source"].notna(), None))
    pd.testing.assert_frame_equal(as_labels.set_index(scored.ids.to_numpy()), by_id.loc[scored.ids])
    with pytest.raises(BadInputError, match="column 'Source' is needed by the model but missing in all 300 rows"):
        shuffled.drop(columns="Source").to_csv(scoring_path, index=False)
        read_for_scoring(scoring_path, table.doc)


def test_a_latin1_byte_deep_in_a_large_file_is_read_alike_for_training_and_scoring(tmp_path):
    n = 30_000  # past the 256 kB the sniffer reads and the rows DuckDB samples
    lines = ["Lead ID,Converted,City"] + [f"L{i},{i % 2},Paris" for i in range(n)] + ["L-last,1,Besançon"]
    path = tmp_path / "big.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    trained = load_lead_table(_config(path))
    scored = read_for_scoring(path, trained.doc)
    for table in (trained, scored):
        assert table.features["City"].iloc[-1] == "Besançon" and len(table.ids) == n + 1
        assert any("not UTF-8 beyond its first 256 kB: read as Latin-1" in line for line in table.report)


def test_read_raw_gives_trimmed_cells_with_placeholders_missing(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Lead ID, Source ,Visits\n L1 , Web ,3\nL2,N/A,\nL3,select,4\n")
    raw = read_raw(path, ["Select", "N/A"])
    assert raw.columns.tolist() == ["Lead ID", "Source", "Visits"]
    assert raw["Lead ID"].tolist() == ["L1", "L2", "L3"]
    assert raw["Source"].isna().tolist() == [False, True, True] and raw["Source"].iloc[0] == "Web"
    assert raw["Visits"].isna().tolist() == [False, True, False]
    duplicated = tmp_path / "dup.csv"
    duplicated.write_text("Lead ID,Source, Source\nL1,a,b\n")
    with pytest.raises(BadInputError, match="column 'Source' appears twice in the header"):
        read_raw(duplicated, [])


@pytest.mark.slow
def test_an_export_with_empty_and_constant_columns_trains_and_scores_itself(tmp_path):
    from leadq.steps.predict import predict_to_file
    from leadq.steps.train import train_from_files

    rng = np.random.default_rng(2)
    n = 600
    visits = rng.poisson(3, n)
    frame = pd.DataFrame({"Lead ID": [f"L{i}" for i in range(n)],
                          "Converted": np.where(rng.random(n) < 1 / (1 + np.exp(2 - visits)), "yes", "no"),
                          "Visits": visits, "Region": rng.choice(["EU", "US"], n), "Lead Status": "",
                          "Owner": "Sales Team", "Empty Number": np.nan})
    path = tmp_path / "export.csv"
    frame.to_csv(path, index=False, sep=";")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    outcome = train_from_files(data_dir=path, tracking_uri=uri, config=_config(path, cv_folds=3))
    assert outcome.spec.feature_columns() == ["Visits", "missing_fields", "Region"]
    assert sum("not used" in line for line in outcome.data_report) == 3
    summary = predict_to_file(path, tmp_path / "scores.csv", "reader-test@champion", tracking_uri=uri)
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert summary.n_leads == n and scores["lead_id"].tolist() == frame["Lead ID"].tolist()
    # More visits never lower the score here: the label was drawn that way and the model learned it.
    mean_by_visits = scores.groupby(frame["Visits"].clip(upper=6))["p_converted"].mean()
    assert mean_by_visits.iloc[-1] > mean_by_visits.iloc[0]
