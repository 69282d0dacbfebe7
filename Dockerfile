# Kasparro: `docker build -t kasparro .` then
# `docker run -p 127.0.0.1:8000:8000 kasparro` (or `docker compose up -d`, see docs/operations.md).
# Stage 1 installs the locked dependencies (requirements.lock, every file checked against
# its sha256) and the project into a virtual environment; stage 2 copies only that
# environment into a slim runtime that runs as a non-root user. `.ci/containers` builds
# this file unmodified, runs it and checks what the comments here promise.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# The environment gets no pip of its own: the image's pip installs into it (--python).
RUN python -m venv --without-pip /venv
WORKDIR /src
COPY requirements.lock ./
RUN pip --python /venv/bin/python install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY kasparro ./kasparro
COPY db ./db
COPY etl ./etl
COPY gql ./gql
# etl/bundled/ links into data/: the wheel gets copies of the CSVs and the asset seed.
COPY data ./data
RUN pip --python /venv/bin/python install --no-deps . \
    && pip --python /venv/bin/python check

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/venv/bin:$PATH \
    PORT=8000
RUN groupadd --gid 10001 kasparro \
    && useradd --no-log-init --uid 10001 --gid kasparro --home-dir /app --create-home \
        --shell /usr/sbin/nologin kasparro
COPY --from=build /venv /venv
# The default SQLite database (sqlite:///kasparro.db) is written here; the ETL's default
# inputs are inside the installed package.
WORKDIR /app
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/health', timeout=4)"
CMD ["kasparro", "serve", "--host", "0.0.0.0"]
