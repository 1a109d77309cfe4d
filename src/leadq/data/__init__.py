"""Data sources: where the three tables come from (folders of files, databases) before the one
bad-input policy of `leadq.load` judges them."""
