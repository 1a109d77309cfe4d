"""Model references (`leadq.core.model_refs`) through the CLI: the registry is trusted, a local
folder needs --allow-local-model, malformed references are one line (exit 2), missing ones exit 3."""

from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli_checks import assert_one_line_error, tree_state, write_contract_tables
from leadq.cli import app

runner = CliRunner()


@pytest.mark.parametrize("ref, needle", [
    ("lead-quality@", "no alias after '@'"),
    ("@champion", "no model name before '@'"),
    ("lead-quality/champion", "an alias is written lead-quality@champion"),
    ("lead-quality/1.5", "version '1.5' is not a number"),
    ("runs:/", "write runs:/RUN_ID/PATH"),
    ("a:b@champion", "cannot be a registered model name"),
    ("", "empty model reference"),
])
def test_a_malformed_reference_is_one_line(tmp_path, ref, needle):
    data = write_contract_tables(tmp_path / "d")
    before = tree_state(tmp_path)
    result = runner.invoke(app, ["predict", "--data", str(data), "--out", str(tmp_path / "s.csv"), "--model", ref,
                                 "--tracking-uri", f"sqlite:///{tmp_path}/none.db"])
    assert_one_line_error(result, 2, "--model", needle)
    assert tree_state(tmp_path) == before


@pytest.mark.parametrize("ref", ["/srv/models/m", "./m", "file:///srv/models/m", "s3://bucket/m"])
def test_a_local_model_needs_the_explicit_flag(tmp_path, ref):
    data = write_contract_tables(tmp_path / "d")
    before = tree_state(tmp_path)
    for command in (["predict", "--data", str(data), "--out", str(tmp_path / "s.csv")],
                    ["compare", "--out", str(tmp_path / "cmp")]):
        result = runner.invoke(app, [*command, "--model", ref, "--tracking-uri", f"sqlite:///{tmp_path}/none.db"])
        assert_one_line_error(result, 2, "--allow-local-model", "runs its code")
    assert tree_state(tmp_path) == before


def _champion_folder(trained) -> Path:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=trained.tracking_uri, registry_uri=trained.tracking_uri)
    version = client.get_model_version_by_alias("lead-quality", "champion").version
    location = client.get_model_version_download_uri("lead-quality", version)
    return Path(unquote(urlparse(location).path))


@pytest.mark.slow
def test_a_trusted_local_folder_scores_like_the_registered_model(trained, tmp_path):
    common = ["--data", str(trained.data_dir), "--as-of", "2026-06-01", "--tracking-uri", trained.tracking_uri]
    registry = runner.invoke(app, ["predict", *common, "--out", str(tmp_path / "r.parquet")])
    assert registry.exit_code == 0, registry.output
    folder = _champion_folder(trained)
    local = runner.invoke(app, ["predict", *common, "--out", str(tmp_path / "l.parquet"), "--model", str(folder),
                                "--allow-local-model"])
    assert local.exit_code == 0, local.output
    by_registry = pd.read_parquet(tmp_path / "r.parquet").set_index("lead_id")
    by_folder = pd.read_parquet(tmp_path / "l.parquet").set_index("lead_id")
    pd.testing.assert_series_equal(by_registry["p_sql"], by_folder["p_sql"])


@pytest.mark.slow
def test_a_run_that_does_not_exist_is_model_not_found(trained, tmp_path):
    before = tree_state(tmp_path)
    for ref in ("runs:/0123456789abcdef0123456789abcdef/model", f"runs:/{trained.outcome.run_id}/nomodel"):
        result = runner.invoke(app, ["predict", "--data", str(trained.data_dir), "--out", str(tmp_path / "s.csv"),
                                     "--model", ref, "--tracking-uri", trained.tracking_uri])
        assert_one_line_error(result, 3, ref, "cannot be loaded")
    assert tree_state(tmp_path) == before


@pytest.mark.slow
def test_promote_takes_an_alias_and_refuses_other_text(trained):
    uri = trained.tracking_uri
    result = runner.invoke(app, ["promote", "lead-quality", "challenger", "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    version = trained.outcome.version
    assert f"champion is now version {version}" in result.stdout
    assert_one_line_error(runner.invoke(app, ["promote", "lead-quality", "1.5", "--tracking-uri", uri]), 2,
                          "'1.5' is neither a version number nor an alias")
    assert_one_line_error(runner.invoke(app, ["promote", "lead/quality", "1", "--tracking-uri", uri]), 2,
                          "cannot be a registered model name")
    assert_one_line_error(runner.invoke(app, ["promote", "lead-quality", "nightly", "--tracking-uri", uri]), 3,
                          "has no alias 'nightly'", "versions:")
