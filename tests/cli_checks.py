"""Helpers for the fault tests: the one-line error contract and "nothing was changed or created"."""

import hashlib
from pathlib import Path

import pandas as pd


def tree_state(*roots: Path) -> dict[str, tuple[int, str]]:
    """Every file under `roots` (recursively) with its mode and content hash."""
    state = {}
    for root in map(Path, roots):
        if not root.exists():
            continue
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            state[str(path)] = (path.stat().st_mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return state


def assert_one_line_error(result, exit_code: int, *needles: str) -> str:
    """The command failed with `exit_code`, printed exactly one `error:` line on stderr holding
    every needle, and no traceback; returns the line."""
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def warning_lines(result) -> list[str]:
    """The `warning:` lines a command printed on stderr."""
    return [line for line in result.stderr.splitlines() if line.startswith("warning: ")]


def write_contract_tables(folder: Path, n_leads: int = 200, n_events: int = 1000, leads=None, events=None,
                          outcomes=None, fmt: str = "csv") -> Path:
    """A small valid data folder (leads created 2024-01-01, events in February 2024)."""
    folder.mkdir(parents=True, exist_ok=True)
    leads = leads if leads is not None else pd.DataFrame({
        "lead_id": [f"L{i}" for i in range(n_leads)],
        "created_at": ["2024-01-01 08:00"] * n_leads,
        "industry": ["retail", "saas"] * (n_leads // 2),
    })
    events = events if events is not None else pd.DataFrame({
        "lead_id": [f"L{i % n_leads}" for i in range(n_events)],
        "ts": [f"2024-02-{1 + i % 27:02d} {i % 24:02d}:{i % 60:02d}" for i in range(n_events)],
        "event_type": ["page_view", "pricing_view"] * (n_events // 2),
        "duration_s": [30.0] * n_events,
    })
    outcomes = outcomes if outcomes is not None else pd.DataFrame({
        "lead_id": ["L1", "L2"], "stage": ["mql", "sql"], "reached_at": ["2024-02-10", "2024-02-12"],
    })
    for name, frame in (("leads", leads), ("events", events), ("outcomes", outcomes)):
        if fmt == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        else:
            frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder
