"""Writing a view's winning rows to the online store while the engine is still producing them.

The engine streams the winning row of each key in small batches (:data:`READ_ROWS`), read
ahead by a background thread (:func:`skewless._prefetch.prefetched`): DuckDB and Spark work
without holding the GIL, so the pull overlaps the encoding and the online write. Rows are
encoded batch by batch and handed to :meth:`OnlineStore.write` as one stream of at most
``batch_rows`` rows per call, so each call is still one online transaction of at most
``batch_rows`` rows (all of them commit or none do), and memory stays bounded by the
read-ahead depth and ``batch_rows``. The caller moves the watermark only after this returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from itertools import chain, islice

import pyarrow as pa

from skewless._contracts import OfflineEngine, OnlineRow, OnlineStore
from skewless._prefetch import prefetched
from skewless._progress import Progress
from skewless.definitions import FeatureView
from skewless.online.codec import ViewCodec

__all__ = ["READ_AHEAD", "READ_ROWS", "write_latest"]

READ_ROWS = 16_384
"""Rows per batch pulled from the engine (a write transaction spans several of them)."""

READ_AHEAD = 4
"""Batches the engine may run ahead of the write (bounds the memory held in between)."""


def write_latest(
    engine: OfflineEngine,
    online: OnlineStore,
    view: FeatureView,
    table: str,
    start: datetime | None,
    end: datetime,
    late_after: datetime | None,
    *,
    batch_rows: int,
    bar: Progress,
) -> int:
    """Write the winning row of every key of ``view`` in the range to ``table``; returns the
    rows written.

    Each :meth:`OnlineStore.write` call takes at most ``batch_rows`` rows and is one
    transaction: a failure leaves earlier calls committed (harmless under the monotonic write
    rule) and writes nothing of the failing one.
    """
    codec = ViewCodec(view)
    batches = engine.latest_per_key(
        view,
        start,
        end,
        late_created_after=late_after,
        batch_rows=max(1, min(batch_rows, READ_ROWS)),
    )
    written = 0
    with prefetched(batches, depth=READ_AHEAD) as ready:
        # A read of no keys opens the store's connection (and finds the table) while the
        # engine computes its first batch, instead of after it.
        online.read([(table, [])])
        rows = chain.from_iterable(_encoded(ready, codec, bar))
        # Wait for a row before each write, so no transaction is open while the engine is
        # still computing its first batch.
        for first in rows:
            written += online.write(table, chain((first,), islice(rows, batch_rows - 1)))
    return written


def _encoded(
    batches: Iterator[pa.RecordBatch], codec: ViewCodec, bar: Progress
) -> Iterator[Iterator[OnlineRow]]:
    for batch in batches:
        if batch.num_rows:
            yield codec.iter_rows(batch)
            bar.advance(batch.num_rows)
