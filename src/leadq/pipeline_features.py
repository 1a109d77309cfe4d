"""The `features` step end to end: read and validate, build vectors as of a cutoff, write."""

from pathlib import Path

from leadq.examples import infer_attribute_spec
from leadq.feature_spec import FeatureSpec
from leadq.features import build_features, to_utc
from leadq.io import write_table
from leadq.load import load_data
from leadq.mapping import DataMapping
from leadq.yaml_model import load_yaml_model
from leadq.errors import BadInputError


def parse_timestamp(value: str, option: str = "--as-of"):
    """A user's timestamp string as UTC; unparseable input is a one-line error."""
    try:
        return to_utc(value)
    except (ValueError, TypeError):
        raise BadInputError(f"{option}: cannot parse '{value}' as a timestamp") from None


def features_to_file(
    data_dir: Path,
    as_of: str,
    out: Path,
    mapping_path: Path | None = None,
    spec: FeatureSpec | None = None,
) -> tuple[int, list[str]]:
    """Build features for every open lead as of `as_of` and write them to `out`.

    Returns the number of rows written and the data report (rows dropped and why).
    """
    cutoff = parse_timestamp(as_of)
    mapping = load_yaml_model(mapping_path, DataMapping) if mapping_path else DataMapping()
    data = load_data(data_dir, mapping)
    spec = infer_attribute_spec(data, spec or FeatureSpec())
    table = build_features(data, spec, cutoff)
    write_table(table, out)
    return len(table), data.report
