# The gateway image: web (daphne), worker and beat all run from it (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    GATEWAY_HOME=/data \
    DATABASE_URL=sqlite:////data/db.sqlite3 \
    CELERY_BROKER_FOLDER=/data/celery
# (compose sets DATABASE_URL and REDIS_URL; these defaults make a lone `docker run` work too)

WORKDIR /app
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml ./
COPY proxy_project/__init__.py proxy_project/
COPY routing/__init__.py routing/
COPY providers/__init__.py providers/
COPY dashboard/__init__.py dashboard/
RUN pip install .
COPY . .
# PYTHONDONTWRITEBYTECODE keeps /app free of caches at run time, so the gateway's modules are
# byte-compiled here once, not by every container on every start.
RUN python -m compileall -q proxy_project runtime providers routing clients gateway dashboard \
        configuration audit sso \
    && pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin gateway \
    && mkdir -p /data \
    && chown -R gateway /data
VOLUME ["/data"]

USER gateway
EXPOSE 8082
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8082/health', timeout=2).status != 200)"]
CMD ["python", "manage.py", "serve", "--host", "0.0.0.0", "--port", "8082", "--no-worker"]
