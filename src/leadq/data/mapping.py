"""A user's own column names and event-type values, mapped onto the data contract."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadq.data.contract import OPTIONAL_EVENT_COLUMNS, REQUIRED_COLUMNS

ContractTable = Literal["leads", "events", "outcomes"]
MAPPABLE_COLUMNS = {table: (*required, *(OPTIONAL_EVENT_COLUMNS if table == "events" else ()))
                    for table, required in REQUIRED_COLUMNS.items()}


class TableSource(BaseModel):
    """Where one contract table comes from: a table or view (`name` or `schema.name`; in a data
    folder, the file or folder name), or, in a database, a SQL `query` run as given."""

    model_config = ConfigDict(extra="forbid")

    table: str | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "TableSource":
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self


class DataMapping(BaseModel):
    """How a user's tables map onto the contract.

    `columns` maps, per table, the contract's column name to the user's (`lead_id: contact_id`);
    `event_types` maps the user's event-type values to canonical ones
    (`"Viewed pricing page": pricing_view`). Unmapped values are kept under their own name.
    `tables` names, per contract table, the table, view or query that holds it
    (`events: web.touches` or `events: {query: "SELECT ..."}`); unnamed tables keep the
    contract's name.
    """

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, dict[str, str]] = Field(default_factory=dict)
    event_types: dict[str, str] = Field(default_factory=dict)
    tables: dict[ContractTable, str | TableSource] = Field(default_factory=dict)
    max_bad_fraction: float = Field(
        default=0.01, ge=0.0, le=1.0,
        description="Share of unparseable rows in a required column above which loading stops.",
    )

    @model_validator(mode="after")
    def _known_names(self) -> "DataMapping":
        for table, columns in self.columns.items():
            if table not in MAPPABLE_COLUMNS:
                raise ValueError(f"columns: unknown table '{table}' (tables: {', '.join(MAPPABLE_COLUMNS)})")
            unknown = [c for c in columns if c not in MAPPABLE_COLUMNS[table]]
            if unknown:
                raise ValueError(f"columns.{table}: '{unknown[0]}' is not a column of the contract's {table} "
                                 f"table (mappable: {', '.join(MAPPABLE_COLUMNS[table])}); the key is the "
                                 "contract's name, the value yours")
        return self

    def source_column(self, table: str, contract_column: str) -> str:
        """The user's name for a contract column of `table` (the contract name when unmapped)."""
        return self.columns.get(table, {}).get(contract_column, contract_column)

    def table_source(self, table: str) -> TableSource:
        """Where contract table `table` comes from (its own name when the mapping is silent)."""
        source = self.tables.get(table, table)
        return TableSource(table=source) if isinstance(source, str) else source
