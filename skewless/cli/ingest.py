"""``skewless ingest`` (a Redis Stream into a push source) and ``skewless compact``."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.text import Text

from skewless.cli._context import console, guarded, open_store
from skewless.errors import ConfigError

__all__ = ["compact", "ingest"]

_MODES = ("online", "offline", "online_and_offline")


@guarded
def compact(
    ctx: typer.Context,
    views: Annotated[
        list[str] | None,
        typer.Option(
            "--views",
            "-v",
            help="Only the source of this push-fed view (repeat for several; default: all).",
            show_default=False,
        ),
    ] = None,
    stale_after: Annotated[
        float,
        typer.Option(
            "--stale-after",
            min=0,
            help="Remove temporary files of crashed writes older than this many seconds "
            "(never one a live writer holds).",
        ),
    ] = 3600,
) -> None:
    """Merge the small Parquet files that offline pushes left, without changing any answer.

    Adjacent pushed files of a batch source become one file that sorts where they sorted,
    with their rows in the same order. Temporary files that crashed writes left beside them
    are removed.
    """
    with open_store(ctx) as store:
        report = store.compact(views or None, stale_after=timedelta(seconds=stale_after))
    out = console()
    for line in report.render().splitlines():
        out.print(Text(line))


@guarded
def ingest(
    ctx: typer.Context,
    push_source: Annotated[str, typer.Argument(help="The push source the rows go to.")],
    stream: Annotated[
        str | None,
        typer.Option("--stream", help="The stream: redis://host:port/STREAM.", show_default=False),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option("--group", "-g", help="Consumer group [default: skewless-PUSH_SOURCE]."),
    ] = None,
    consumer: Annotated[
        str | None,
        typer.Option(
            "--consumer", "-c", help="Consumer name, stable across restarts [default: hostname]."
        ),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", "-b", help="Entries per push.")] = 500,
    to: Annotated[
        str, typer.Option("--to", help="Where rows go: online, offline or online_and_offline.")
    ] = "online",
    max_entries: Annotated[
        int | None,
        typer.Option("--max-entries", help="Stop after this many entries.", show_default=False),
    ] = None,
    idle_exit: Annotated[
        float | None,
        typer.Option(
            "--idle-exit", help="Stop after this many seconds without entries.", show_default=False
        ),
    ] = None,
    claim_idle: Annotated[
        float,
        typer.Option(
            "--claim-idle", help="Take over entries pending at another consumer this long (s)."
        ),
    ] = 60.0,
    report_every: Annotated[
        float,
        typer.Option("--report-every", help="Seconds between progress lines off a terminal."),
    ] = 10.0,
) -> None:
    """Consume a Redis Stream with a consumer group and push its entries.

    Each entry is one row: a field `row` holding a JSON object, or one field per column.
    Entries are acknowledged only after their rows are written; invalid entries go to the
    stream STREAM:dead with the error. Progress (throughput, lag, pending) is shown live on a
    terminal and as periodic lines otherwise. Stops on SIGTERM or Ctrl-C after the current
    batch.
    """
    from skewless.ingest import StorePushSink, StreamIngestor, parse_stream_url

    if to not in _MODES:
        raise ConfigError(f"--to {to!r} is not a push destination: use one of {', '.join(_MODES)}")
    with open_store(ctx) as store:
        address = parse_stream_url(_stream_url(store, push_source, stream))
        sink = StorePushSink(store, push_source, to, address.stream)
        client = address.connect()
        try:
            ingestor = StreamIngestor(
                client,
                address,
                sink,
                group=group or f"skewless-{push_source}",
                consumer=consumer,
                batch=batch,
                claim_idle_ms=int(claim_idle * 1000),
            )
            label = f"ingest {push_source} <- {address.stream}"
            with _progress(label, report_every) as (show, every), _stop_on_sigterm() as stopped:
                stats = ingestor.run(
                    max_entries=max_entries,
                    idle_exit=idle_exit,
                    on_progress=show,
                    progress_every=every,
                    should_stop=stopped,
                )
        finally:
            client.close()
    seconds = time.monotonic() - stats.started
    console().print(
        Text(
            f"ingested {stats.entries:,} entries ({stats.rows:,} rows, {stats.dead:,} dead) "
            f"from {address.stream} into {push_source} in {seconds:.1f} s"
        )
    )


def _stream_url(store: Any, push_source: str, stream: str | None) -> str:
    """The Redis stream to read, or an error saying why a Kafka source cannot be read."""
    from skewless.definitions import KafkaSource

    source = next(
        (
            v.source
            for v in store.list_feature_views()
            if v.push_source is not None and v.push_source.name == push_source
        ),
        None,
    )
    if isinstance(source, KafkaSource) and (stream is None or stream.startswith("kafka")):
        raise ConfigError(
            f"push source {push_source!r} reads Kafka topic {source.topic!r} at "
            f"{source.bootstrap_servers}, but skewless ingest consumes Redis streams: forward "
            "the topic to a Redis stream and pass --stream redis://host:port/STREAM, or call "
            "store.push from your Kafka consumer"
        )
    if stream is None:
        raise ConfigError(f"pass the stream to read: --stream redis://host:port/{push_source}")
    return stream


@contextmanager
def _progress(label: str, report_every: float) -> Iterator[tuple[Callable[[Any], None], float]]:
    """A live line on a terminal; otherwise a line on stderr every ``report_every`` seconds."""
    if not sys.stderr.isatty():

        def line(stats: Any) -> None:
            print(f"{label}: {stats.render()}", file=sys.stderr, flush=True)

        yield line, report_every
        return
    from rich.console import Console
    from rich.live import Live

    with Live(Text(label), console=Console(file=sys.stderr), refresh_per_second=4) as live:

        def update(stats: Any) -> None:
            live.update(Text(f"{label}: {stats.render()}"))

        yield update, 0.25


@contextmanager
def _stop_on_sigterm() -> Iterator[Callable[[], bool]]:
    """A flag raised by SIGTERM, so the current batch finishes (and is acked) before exit."""
    stop = [False]

    def handler(signum: int, frame: Any) -> None:
        stop[0] = True

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield lambda: False
        return
    try:
        yield lambda: stop[0]
    finally:
        signal.signal(signal.SIGTERM, previous)
