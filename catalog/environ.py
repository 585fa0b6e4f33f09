"""Keys that in-process callers put in a request's WSGI environ, which HTTP cannot set.

Kept at the bottom of the layers: the auth hook reads them, the request log and the warm-up
(catalog.warmup) set or check them, and none of those needs the others for a name.
"""

# A Principal for a request made in-process (the gunicorn worker's warm-up); never from HTTP.
WARMUP_ENVIRON = "catalog.warmup_principal"
