# The Celery app lives in proxy_project/celery.py and is loaded by `celery -A proxy_project` (worker,
# beat). The web process does not import it at start-up: it dispatches no tasks, and Celery,
# kombu and their dependencies would cost it about 0.2 s and 15 MB.

import os

# The dashboard's websockets carry small htmx fragments: autobahn's pure-Python UTF-8 check is
# enough, and its documented AUTOBAHN_USE_NVX=0 spares each web process the cffi C parser that
# the native validator compiles at import (about 1 MiB). Set AUTOBAHN_USE_NVX=1 to keep it.
os.environ.setdefault("AUTOBAHN_USE_NVX", "0")
