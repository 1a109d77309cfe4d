"""Rules: hand-made point scorecards, and integer scorecards learned from data in the same format."""
