"""The floor of ``bench/predict.py``: a bare endpoint that is given one row's feature values.

``POST /predict {"features": {"total_purchases": 12, ...}}`` answers
``{"predictions": [...], "probabilities": [[...]]}`` from the same registered model the
prediction server serves, loaded with ``mlflow.pyfunc.load_model``: the body is parsed with
orjson, the 1-row frame is built column by column with the dtypes of the model's signature,
and the estimator is called once, the fastest way to get both answers: ``predict_proba``,
with the prediction its most likely class (what a gradient-boosted classifier's ``predict``
computes; the bench checks the answers agree). No feature store, no batching, no
logging, no metrics. It runs under uvicorn as ``skewless models serve`` does (one worker,
uvloop, the same httptools protocol, the same keep-alive).

Run: ``python bench/_predict_floor.py PORT`` with ``MLFLOW_TRACKING_URI`` and
``BENCH_FLOOR_MODEL`` (a ``models:/NAME/VERSION`` URI) set.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import orjson
import pandas as pd
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ENV_MODEL = "BENCH_FLOOR_MODEL"
JSON = "application/json"


def floor_app() -> Starlette:
    """The floor's application (a uvicorn factory)."""
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(os.environ[ENV_MODEL])
    schema = model.metadata.get_input_schema()
    columns = list(schema.input_names())
    dtypes = [np.dtype(t) for t in schema.numpy_types()]
    estimator = model.get_raw_model()
    classes = np.asarray(estimator.classes_)
    typed = list(zip(columns, dtypes, strict=True))

    async def predict(request: Request) -> Response:
        values: dict[str, Any] = orjson.loads(await request.body())["features"]
        frame = pd.DataFrame({c: np.array([values[c]], dtype=d) for c, d in typed})
        probabilities = estimator.predict_proba(frame)
        predictions = classes[probabilities.argmax(axis=1)]
        return Response(
            orjson.dumps(
                {"predictions": predictions.tolist(), "probabilities": probabilities.tolist()}
            ),
            media_type=JSON,
        )

    async def health(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    return Starlette(
        routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )


def main() -> None:
    import uvicorn

    from skewless.config import ServerConfig
    from skewless.server.protocol import PROTOCOL

    uvicorn.run(
        "_predict_floor:floor_app",
        factory=True,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        workers=1,
        log_level="warning",
        access_log=False,
        loop="auto",
        http=PROTOCOL,
        timeout_keep_alive=ServerConfig().keep_alive_timeout,
        app_dir=os.path.dirname(os.path.abspath(__file__)),
    )


if __name__ == "__main__":
    main()
