"""Scoring a lead table in batches: the scores, reasons, drift and report do not depend on how
the file is cut, and a file found not to be UTF-8 after its first batches is read again as
Latin-1 from the start."""

import json

import numpy as np
import pandas as pd
import pytest

import leadq.scoring.lead_table as scoring
from lead_table_data import FAST, generated_lead_table, lead_table_config
from leadq.steps.predict import predict_to_file

pytestmark = pytest.mark.slow  # trains a model end to end


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A lead-table model trained on 1,200 generated leads, and the export it was trained on."""
    from leadq.steps.train import train_from_files

    work = tmp_path_factory.mktemp("lead_table_model")
    frame = generated_lead_table(1200, seed=11)
    path = work / "export.csv"
    frame.to_csv(path, index=False)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    train_from_files(data_dir=path, tracking_uri=uri,
                     config=lead_table_config(work / "elsewhere.csv", {"candidates": FAST}, cv_folds=3))
    return frame, uri


def _scores(path, out, uri, monkeypatch, batch_rows):
    monkeypatch.setattr(scoring, "CHUNK_ROWS", batch_rows)
    predict_to_file(path, out, model_ref="test-leads@champion", tracking_uri=uri)
    report = json.loads(out.with_name(out.name + ".report.json").read_text())
    return pd.read_csv(out, keep_default_na=False), report


def test_batches_give_the_scores_of_one_pass(trained, tmp_path, monkeypatch):
    frame, uri = trained
    frame = frame.copy()
    frame.loc[[5, 700, 1100], "Lead ID"] = ""  # rows without an id, in three different batches
    path = tmp_path / "export.csv"
    frame.to_csv(path, index=False)
    whole, whole_report = _scores(path, tmp_path / "whole.csv", uri, monkeypatch, 10**6)
    cut, cut_report = _scores(path, tmp_path / "cut.csv", uri, monkeypatch, 250)
    assert len(whole) == len(frame) - 3
    assert whole["lead_id"].tolist() == [i for i in frame["Lead ID"] if i]
    columns = ["lead_id", "p_won", "score", "stage", "reasons"]
    pd.testing.assert_frame_equal(cut[columns], whole[columns])
    assert cut_report["psi"] == whole_report["psi"] and cut_report["stage_share"] == whole_report["stage_share"]
    assert cut_report["data_report"] == whole_report["data_report"] == [f"{path}: dropped 3 rows with a missing 'Lead ID'"]


def test_a_latin1_byte_after_the_first_batches_restarts_the_read_as_latin1(trained, tmp_path, monkeypatch):
    frame, uri = trained
    # past the 256 kB the sniffer reads and the rows DuckDB samples: the file is streamed as UTF-8
    # until the scan meets the one Latin-1 byte, near the end
    big = pd.concat([frame] * 25, ignore_index=True)
    big["Lead ID"] = [f"L{i}" for i in range(len(big))]
    big.loc[len(big) - 3, "Job Title"] = "Directeur Général"
    latin1, utf8 = tmp_path / "latin1.csv", tmp_path / "utf8.csv"
    latin1.write_bytes(big.to_csv(index=False).encode("latin-1"))
    utf8.write_bytes(big.to_csv(index=False).encode("utf-8"))
    assert latin1.stat().st_size > 256 * 1024
    read_as_latin1, report = _scores(latin1, tmp_path / "a.csv", uri, monkeypatch, 2000)
    read_as_utf8, _ = _scores(utf8, tmp_path / "b.csv", uri, monkeypatch, 2000)
    assert len(read_as_latin1) == len(big)
    columns = ["lead_id", "p_won", "score", "stage", "reasons"]
    pd.testing.assert_frame_equal(read_as_latin1[columns], read_as_utf8[columns])
    assert any("read as Latin-1" in line for line in report["data_report"])
    assert np.isfinite(read_as_latin1["p_won"]).all()
