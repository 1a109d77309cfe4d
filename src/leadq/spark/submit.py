"""The spark-submit entry: run as a file, it is `leadq predict --engine spark ARGS`.

    spark-submit --master yarn "$(python -c 'import leadq.spark.submit as m; print(m.__file__)')" \
        --data DIR --out FILE ...

Nothing imports this module; it imports the command line.
"""

import os
import sys

if __name__ == "__main__":  # run as a file: its folder must not shadow top-level modules
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]


def main(argv: list[str] | None = None) -> None:
    """`leadq predict --engine spark ARGS` (argv defaults to sys.argv[1:])."""
    from leadq.cli import app

    args = list(sys.argv[1:] if argv is None else argv)
    app(["predict", "--engine", "spark", *args], prog_name="leadq-spark-predict")


if __name__ == "__main__":
    main()
