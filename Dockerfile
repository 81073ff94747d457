# The platform's image: web (granian), Celery worker and beat all run from it (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VAR_DIR=/app/var

WORKDIR /app

# Dependencies first, read from pyproject.toml, so that a code change does not reinstall them.
# (psycopg2-binary ships libpq in its wheel: no compiler or libpq-dev needed.)
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Then the project itself (editable, so that settings' BASE_DIR is /app: templates, static, locale).
COPY . .
RUN pip install --no-deps -e . \
    && python manage.py collectstatic --noinput \
    && useradd --system --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p "$VAR_DIR" \
    && chown -R app:app "$VAR_DIR"

USER app
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"

CMD ["granian", "--interface", "wsgi", "--host", "0.0.0.0", "--port", "8000", "--workers", "3", "--blocking-threads", "1", "--access-log", "--respawn-failed-workers", "config.wsgi:application"]
