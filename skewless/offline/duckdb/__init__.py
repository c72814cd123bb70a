"""The embedded offline engine: DuckDB over Parquet and CSV files (see ``engine.py``)."""
