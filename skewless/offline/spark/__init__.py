"""Spark as the offline engine (``pip install 'skewless[spark]'``; Java 17+).

``offline_store: {type: spark, master: ..., spark_conf: {...}}`` selects it, or
``SparkEngine.from_session(spark, repo_path)`` runs it on a session of your own. The SQL is
rendered from the same query descriptions as every engine (:mod:`.dialect`); see
``docs/spark.md``. Importing this package does not import PySpark.
"""
