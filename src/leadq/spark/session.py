"""Spark sessions for leadq: UTC everywhere, modest shuffle partitions in local mode, the active
session reused (spark-submit's) or a new one stopped when the job ends.

pyspark is an optional dependency (the `spark` extra): it is imported inside the functions only.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from leadq.core.errors import BadInputError

MISSING_PYSPARK = "the Spark engine needs the 'spark' extra: pip install 'leadq[spark]'"
MISSING_JAVA = "the Spark engine needs a Java runtime (17 or later): set JAVA_HOME or put 'java' on PATH"


def require_pyspark():
    """pyspark, or a one-line error naming the extra to install."""
    try:
        import pyspark  # noqa: F401
        from pyspark.sql import SparkSession  # noqa: F401
    except ImportError:
        raise BadInputError(MISSING_PYSPARK) from None
    return pyspark


def _cores(master: str) -> int:
    match = re.fullmatch(r"local\[(\d+|\*)(?:,\s*\d+)?\]", master.strip())
    if master.strip() == "local":
        return 1
    if match and match.group(1) != "*":
        return int(match.group(1))
    return os.cpu_count() or 2


def spark_session(
    master: str | None = "local[2]",
    app_name: str = "leadq",
    shuffle_partitions: int | None = None,
    driver_memory: str | None = None,
    conf: dict[str, str] | None = None,
):
    """A SparkSession in UTC, with modest shuffle partitions (4 per core) for local mode.

    `master` None means spark-submit's `--master` when launched by spark-submit, else local[2].
    `driver_memory` (e.g. "4g") only takes effect when this call starts the JVM; `conf` adds any
    other Spark settings. An existing session is reused (its runtime settings updated).
    """
    require_pyspark()
    from pyspark.sql import SparkSession

    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise BadInputError(MISSING_JAVA)
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    if master is None and not _launched_by_spark_submit():
        master = "local[2]"
    if master is not None and master.startswith("local"):
        # Local Python workers run the driver's interpreter (Spark's default is `python3` on PATH).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    partitions = shuffle_partitions or max(2, 4 * _cores(master or ""))
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(partitions),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    }
    if driver_memory:
        settings["spark.driver.memory"] = driver_memory
    settings.update(conf or {})
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    for key in ("spark.sql.session.timeZone", "spark.sql.shuffle.partitions",
                "spark.sql.execution.arrow.pyspark.enabled"):
        spark.conf.set(key, settings[key])
    return spark


def _launched_by_spark_submit() -> bool:
    """True in a driver started by spark-submit (its JVM is already up, with the master set)."""
    return bool(os.environ.get("PYSPARK_GATEWAY_PORT"))


@contextmanager
def job_session(master: str | None = None, conf: dict[str, str] | None = None) -> Iterator[Any]:
    """The active SparkSession if there is one (left running, settings untouched), else a new
    one from `spark_session(master, conf=conf)`, stopped when the block ends."""
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    spark = spark_session(master, conf=conf)
    try:
        yield spark
    finally:
        spark.stop()
