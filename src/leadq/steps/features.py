"""The `features` step end to end: read and validate, build vectors as of a cutoff, write."""

from pathlib import Path

from leadq.features.examples import infer_attribute_spec
from leadq.features.spec import FeatureSpec
from leadq.features.engine import build_features
from leadq.data.database import is_database_url, redact_url
from leadq.core.errors import BadInputError
from leadq.core.files import check_table_suffix, refuse_outputs_over_inputs, table_inputs, write_table
from leadq.core.timestamps import future_cutoff_warning, parse_timestamp
from leadq.core.yaml_model import load_yaml_model
from leadq.data.attributes import report_unparseable_numbers
from leadq.data.contract import TABLES
from leadq.data.load import load_data
from leadq.data.mapping import DataMapping

__all__ = ["features_to_file", "parse_timestamp"]


def features_to_file(
    data_dir: Path,
    as_of: str,
    out: Path,
    mapping_path: Path | None = None,
    spec: FeatureSpec | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
) -> tuple[int, list[str]]:
    """Build features for every open lead as of `as_of` and write them to `out`.

    `engine` "spark" builds them with `leadq.spark.features` (the same features) on the active
    SparkSession, else one on `spark_master` (None: spark-submit's master, else local[2]).
    Returns the number of rows written and the data report (rows dropped and why).
    """
    cutoff = parse_timestamp(as_of)
    check_table_suffix(out)
    refuse_outputs_over_inputs([out], [*table_inputs(data_dir, TABLES), mapping_path])
    mapping = load_yaml_model(mapping_path, DataMapping) if mapping_path else DataMapping()
    if engine == "spark":
        return _features_to_file_spark(data_dir, cutoff, out, mapping, spec, spark_master)
    if engine != "duckdb":
        raise BadInputError(f"--engine: '{engine}' is not one of duckdb, spark")
    data = load_data(data_dir, mapping)
    data.report.extend(future_cutoff_warning(cutoff, data.clock))
    spec = infer_attribute_spec(data, spec or FeatureSpec())
    report_unparseable_numbers(data.con, data.sources["leads"], spec.numeric_attributes, data.report)
    table = build_features(data, spec, cutoff)
    write_table(table, out)
    return len(table), data.report


def _features_to_file_spark(data_dir: Path, cutoff, out: Path, mapping: DataMapping, spec: FeatureSpec | None,
                            spark_master: str | None) -> tuple[int, list[str]]:
    from leadq.spark.features import build_features_spark
    from leadq.spark.session import job_session
    from leadq.spark.load import load_spark_tables

    if is_database_url(data_dir):
        raise BadInputError(f"{redact_url(data_dir)}: --engine spark reads files; use --engine duckdb "
                            "for a database source")
    with job_session(spark_master) as spark:
        data = load_spark_tables(spark, Path(data_dir), mapping)
        spec = infer_attribute_spec(data, spec or FeatureSpec())
        # Collected to the driver and written as one file (atomically), like the DuckDB engine's.
        table = build_features_spark(spark, spec, cutoff)
    write_table(table, out)
    return len(table), data.report
