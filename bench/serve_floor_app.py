"""The HTTP floor of ``bench/serve_bench.py``: what answering a list costs with no model.

The same stack as ``catalog ranker serve`` (Flask under gunicorn, one gthread worker with four
threads) parsing the same query and returning a list of the same shape and size (10 items,
their scores, a fresh request id), with no model, history, journal or catalog behind it:

    gunicorn --chdir bench -w 1 -k gthread --threads 4 serve_floor_app:app
"""

from __future__ import annotations

import time
import uuid

from flask import Flask, jsonify, request

app = Flask(__name__)
ITEMS = list(range(1001, 1011))
SCORES = [round(9.5 - 0.37 * i, 6) for i in range(10)]


@app.get("/recommendations")
def recommendations():
    user, k = int(request.args["user"]), int(request.args.get("k", "10"))
    body = {"requestId": uuid.uuid4().hex, "user": user, "k": k, "strategy": "personalised",
            "model": {"name": "ranker", "version": 1, "ref": "ranker@production"},
            "arm": "champion", "items": ITEMS[:k], "scores": SCORES[:k],
            "servedAt": time.time_ns() // 1000}
    return jsonify(body)


@app.get("/readyz")
def readyz():
    return jsonify({"status": "ready"})
