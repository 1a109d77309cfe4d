"""Data: the contract, a user's mapping, reading and validating tables (the one bad-input policy), lead tables and the synthetic funnel."""
