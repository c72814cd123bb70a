"""A view's source as Spark reads it: files, raw columns, the scan view and read errors.

Local paths resolve on the driver exactly as for every engine (one file, a directory or a
glob, in lexicographic path order). A path with a URI scheme (``s3a://``, ``gs://``,
``abfss://``, ``hdfs://``, ``file://``) is passed to Spark as it is: the cluster lists it,
and files compare by their URI-decoded paths.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from skewless._types import UnixTimestamp
from skewless.definitions import FeatureView, FileSource, PushSource
from skewless.errors import SchemaMismatchError, SourceNotFoundError
from skewless.offline.sources import resolve_files, source_columns
from skewless.offline.spark.dialect import BLOCK_COLUMN, FILE_COLUMN, ROW_COLUMN

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

__all__ = [
    "is_uri",
    "raw_frame",
    "scan_frame",
    "source_files",
    "spark_errors",
    "to_arrow_schema",
]

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_uri(path: str) -> bool:
    """Whether ``path`` has a scheme (``s3a://bucket/x``) and goes to Spark unresolved."""
    return bool(_URI.match(path))


def source_files(source: FileSource | PushSource, repo_path: Path) -> tuple[str, ...]:
    """The files to read: resolved on the driver, or the URI as it is."""
    batch = source.batch_source if isinstance(source, PushSource) else source
    if is_uri(batch.path):
        return (batch.path,)
    return resolve_files(source, repo_path)


def _time_sources(view: FeatureView, names: list[str]) -> set[str]:
    """Raw columns the view reads as timestamps."""
    columns = source_columns(view, dict.fromkeys(names))
    times = {columns.timestamp} | ({columns.created} if columns.created else set())
    declared = {f.name: f.dtype for f in view.schema}
    times |= {src for name, src in columns.features.items() if declared[name] == UnixTimestamp}
    return times


def raw_frame(session: SparkSession, view: FeatureView, files: tuple[str, ...]) -> DataFrame:
    """The files as a DataFrame with their raw columns.

    CSV columns are typed as the view declares them; its time columns stay text (parsed
    later, offsets included) and other columns are inferred.
    """
    what = describe(view)
    with spark_errors(what):
        if view.source.file_format == "parquet":
            return session.read.option("mergeSchema", len(files) > 1).parquet(*files)
        reader = session.read.option("header", True).option("mode", "FAILFAST")
        inferred = reader.option("inferSchema", True).csv(list(files)).schema
        return reader.schema(_csv_schema(view, inferred)).csv(list(files))


def _csv_schema(view: FeatureView, inferred: StructType) -> StructType:
    from pyspark.sql.types import StringType, StructField, StructType

    times = _time_sources(view, inferred.fieldNames())
    inverse = {dst: src for src, dst in view.source.field_mapping.items()}
    declared = {inverse.get(f.name, f.name): f.dtype for f in view.schema}
    fields = []
    for field in inferred.fields:
        kind = field.dataType
        if field.name in times:
            kind = StringType()
        elif field.name in declared:
            kind = _spark_type(declared[field.name].to_arrow())
        fields.append(StructField(field.name, kind, True))
    return StructType(fields)


def scan_frame(frame: DataFrame, file_format: str) -> DataFrame:
    """``frame`` with the file's decoded path, the block start and the row's position."""
    from pyspark.sql import functions as F

    path = F.url_decode(F.replace(F.col("_metadata.file_path"), F.lit("+"), F.lit("%2B")))
    row = (
        F.monotonically_increasing_id()
        if file_format == "csv"
        else F.col("_metadata.row_index").cast("bigint")
    )
    return frame.select(
        "*",
        path.alias(FILE_COLUMN),
        F.col("_metadata.file_block_start").alias(BLOCK_COLUMN),
        row.alias(ROW_COLUMN),
    )


def to_arrow_schema(
    session: SparkSession, view: FeatureView, frame: DataFrame, files: tuple[str, ...]
) -> pa.Schema:
    """The raw columns as Arrow types; Parquet nanosecond timestamps (read by Spark as
    BIGINT) are reported as ``timestamp[ns]`` so that they are floored to microseconds."""
    schema = frame.schema
    arrow = [pa.field(f.name, _arrow_type(f.dataType)) for f in schema.fields]
    if view.source.file_format == "parquet":
        times = _time_sources(view, schema.fieldNames()) if _maps(view, schema) else set()
        longs = [f.name for f in arrow if f.name in times and pa.types.is_int64(f.type)]
        if longs:
            nanos = _nanosecond_columns(session, frame, longs)
            arrow = [
                pa.field(f.name, pa.timestamp("ns", nanos[f.name])) if f.name in nanos else f
                for f in arrow
            ]
    return pa.schema(arrow)


def _maps(view: FeatureView, schema: StructType) -> bool:
    try:
        source_columns(view, dict.fromkeys(schema.fieldNames()))
    except SchemaMismatchError:
        return False  # build_source_read reports it with the view's names
    return True


def _nanosecond_columns(
    session: SparkSession, frame: DataFrame, names: list[str]
) -> dict[str, str | None]:
    """Which of ``names`` are Parquet TIMESTAMP(NANOS) in the first file, with their zone
    (UTC when adjusted to UTC, else None), read from the footer through Hadoop."""
    files = frame.inputFiles()
    if not files:
        return {}
    jvm = session.sparkContext._jvm
    assert jvm is not None
    conf = session.sparkContext._jsc.hadoopConfiguration()
    hadoop_file = jvm.org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(
        jvm.org.apache.hadoop.fs.Path(sorted(files)[0]), conf
    )
    reader = jvm.org.apache.parquet.hadoop.ParquetFileReader.open(hadoop_file)
    try:
        footer = reader.getFooter().getFileMetaData().getSchema()
    finally:
        reader.close()
    found: dict[str, str | None] = {}
    for name in names:
        if not footer.containsField(name):
            continue
        annotation = str(footer.getType(name).getLogicalTypeAnnotation() or "")
        if annotation.startswith("TIMESTAMP(NANOS"):
            found[name] = "UTC" if "true" in annotation else None
    return found


def _arrow_type(kind: DataType) -> pa.DataType:
    from pyspark.sql import types as T

    simple: Mapping[type, pa.DataType] = {
        T.ByteType: pa.int8(),
        T.ShortType: pa.int16(),
        T.IntegerType: pa.int32(),
        T.LongType: pa.int64(),
        T.FloatType: pa.float32(),
        T.DoubleType: pa.float64(),
        T.StringType: pa.string(),
        T.BooleanType: pa.bool_(),
        T.BinaryType: pa.binary(),
        T.DateType: pa.date32(),
        T.TimestampType: pa.timestamp("us", "UTC"),
        T.TimestampNTZType: pa.timestamp("us"),
        T.NullType: pa.null(),
    }
    for spark_type, arrow_type in simple.items():
        if isinstance(kind, spark_type):
            return arrow_type
    if isinstance(kind, T.DecimalType):
        return pa.decimal128(kind.precision, kind.scale)
    if isinstance(kind, T.ArrayType):
        return pa.list_(_arrow_type(kind.elementType))
    return pa.string() if isinstance(kind, T.VarcharType | T.CharType) else pa.binary()


def _spark_type(kind: pa.DataType) -> Any:
    from pyspark.sql import types as T

    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return T.ArrayType(_spark_type(kind.value_type))
    simple = {
        pa.int32(): T.IntegerType(),
        pa.int64(): T.LongType(),
        pa.float32(): T.FloatType(),
        pa.float64(): T.DoubleType(),
        pa.string(): T.StringType(),
        pa.bool_(): T.BooleanType(),
        pa.binary(): T.BinaryType(),
    }
    return simple.get(kind, T.StringType())


def describe(view: FeatureView) -> str:
    return f"source {view.source.path!r} of feature view {view.name!r}"


@contextmanager
def spark_errors(what: str) -> Iterator[None]:
    """Turn Spark failures the user can fix into skewless errors; others pass unchanged."""
    try:
        yield
    except Exception as exc:
        error = _translate(exc, what)
        if error is None:
            raise
        raise error from exc


_MISSING = ("PATH_NOT_FOUND", "FileNotFoundException", "No such file", "does not exist")
_BAD_DATA = (
    "CAST_INVALID_INPUT",
    "MALFORMED_RECORD",
    "NumberFormatException",
    "CANNOT_PARSE_TIMESTAMP",
    "FAILED_READ_FILE",
    "CANNOT_READ_FILE_FOOTER",
)


def _translate(exc: Exception, what: str) -> Exception | None:
    try:
        from py4j.protocol import Py4JJavaError
        from pyspark.errors import PySparkException
    except ImportError:
        return None
    if not isinstance(exc, PySparkException | Py4JJavaError):
        return None
    text = str(exc)
    message = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if any(marker in text for marker in _MISSING):
        return SourceNotFoundError(
            f"cannot read {what}: {message}; check that the path exists and that the Spark "
            "cluster (driver and executors) can read it"
        )
    if any(marker in text for marker in _BAD_DATA):
        return SchemaMismatchError(
            f"cannot read {what}: {message}; make the data match the declared columns and types"
        )
    return None
