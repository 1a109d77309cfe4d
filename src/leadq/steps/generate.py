"""The `generate` step: synthetic histories written as the contract's Parquet tables."""

from pathlib import Path

from leadq.core.errors import BadInputError
from leadq.core.files import write_table
from leadq.core.timestamps import parse_timestamp
from leadq.data import synth
from leadq.data.shift import FunnelShift


def generate_to_dir(out: Path, n_leads: int, seed: int, end: str | None = None,
                    history_days: int = 365, shift: str | None = None, shift_after: str | None = None,
                    shift_factor: float | None = None) -> dict[str, int]:
    """Generate `n_leads` leads' histories and write NAME.parquet for each table into `out`.

    `shift` (a kind of `leadq.data.shift.SHIFT_KINDS`) changes the funnel from `shift_after` on,
    by `shift_factor` (None: the kind's default). Returns the row count of each table written.
    """
    if end is not None:
        end = parse_timestamp(end, "--end")
    if n_leads < 1:
        raise BadInputError(f"--leads: must be at least 1 (got {n_leads})")
    if history_days < 1:
        raise BadInputError(f"--history-days: must be at least 1 (got {history_days})")
    funnel_shift = None
    if shift is not None or shift_after is not None:
        if shift is None or shift_after is None:
            raise BadInputError("--shift and --shift-after go together: the kind of change and its date")
        try:
            funnel_shift = FunnelShift.of(shift, parse_timestamp(shift_after, "--shift-after"), shift_factor)
        except ValueError as exc:
            raise BadInputError(f"--shift: {exc}") from None
    tables = synth.generate(n_leads=n_leads, seed=seed, end=end, history_days=history_days,
                            shift=funnel_shift)
    out = Path(out)
    for name, frame in tables.items():
        write_table(frame, out / f"{name}.parquet")
    return {name: len(frame) for name, frame in tables.items()}
