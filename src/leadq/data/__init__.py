"""Data: the contract, a user's mapping, where the tables come from (folders of files, PostgreSQL,
DuckDB files), reading and validating them (the one bad-input policy), lead tables and the
synthetic funnel."""
