"""Online serving of the ranker: ``catalog ranker serve --model ranker@production``.

A gunicorn process apart from the catalog that answers ``GET /recommendations`` from a
registered model version and reports what it serves back to the catalog, the way the batch jobs
do. The modules, in the order a request meets them:

- ``server``: gunicorn configured in code (one gthread worker), its start and stop hooks;
- ``app``: the HTTP API, parsing and refusing input, nothing else;
- ``runtime``: one serving process: the serving run's START/RUNNING/COMPLETE, the flush and
  heartbeat threads, the requests' work;
- ``follow``: the version(s) answering, the champion/challenger split, hot swap on alias moves;
- ``model``: a loaded version, the users' histories, the popularity list;
- ``journal``: the write-ahead journal every acknowledged list and event is in first;
- ``batches``: journal segments -> Parquet parts -> ``impressions`` and ``served_events``
  versions in the catalog, with their lineage;
- ``landing``: served events -> the raw events the next pipeline run reads;
- ``report``: lists, CTR and purchase rate per served version (and A/B arm).
"""
