"""`python -m leadq`: the same command line as `leadq`."""

from leadq.cli import app

app(prog_name="leadq")
