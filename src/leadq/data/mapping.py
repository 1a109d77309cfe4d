"""A user's own column names and event-type values, mapped onto the data contract."""

from pydantic import BaseModel, ConfigDict, Field


class DataMapping(BaseModel):
    """How a user's tables map onto the contract.

    `columns` maps, per table, the contract's column name to the user's (`lead_id: contact_id`);
    `event_types` maps the user's event-type values to canonical ones
    (`"Viewed pricing page": pricing_view`). Unmapped values are kept under their own name.
    """

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, dict[str, str]] = Field(default_factory=dict)
    event_types: dict[str, str] = Field(default_factory=dict)
    max_bad_fraction: float = Field(
        default=0.01, ge=0.0, le=1.0,
        description="Share of unparseable rows in a required column above which loading stops.",
    )

    def source_column(self, table: str, contract_column: str) -> str:
        """The user's name for a contract column of `table` (the contract name when unmapped)."""
        return self.columns.get(table, {}).get(contract_column, contract_column)
