# The Celery app lives in proxy_project/celery.py and is loaded by `celery -A proxy_project` (worker,
# beat). The web process does not import it at start-up: it dispatches no tasks, and Celery,
# kombu and their dependencies would cost it about 0.2 s and 15 MB.
