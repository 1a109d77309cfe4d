"""The `generate` step: synthetic histories written as the contract's Parquet tables."""

from pathlib import Path

from leadq.core.errors import BadInputError
from leadq.core.files import write_table
from leadq.data import synth


def generate_to_dir(out: Path, n_leads: int, seed: int, end: str | None = None) -> dict[str, int]:
    """Generate `n_leads` leads' histories and write NAME.parquet for each table into `out`.

    Returns the row count of each table written.
    """
    if end is not None:
        from leadq.core.timestamps import parse_timestamp

        end = parse_timestamp(end, "--end")
    if n_leads < 1:
        raise BadInputError(f"--leads: must be at least 1 (got {n_leads})")
    tables = synth.generate(n_leads=n_leads, seed=seed, end=end)
    out = Path(out)
    for name, frame in tables.items():
        write_table(frame, out / f"{name}.parquet")
    return {name: len(frame) for name, frame in tables.items()}
