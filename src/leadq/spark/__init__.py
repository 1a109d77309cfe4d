"""Spark: the same features and scoring on Apache Spark (session, loading under the shared policy, features from the spec's SQL, spark_udf scoring)."""
