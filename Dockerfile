# Kasparro: `docker build -t kasparro .` then `docker run -p 8000:8000 kasparro`.
# Stage 1 builds wheels for the project and every dependency; stage 2 is a slim runtime
# that installs only those wheels (no compiler, no source tree) and runs as a non-root user.
# tests/ops/test_dockerfile.py checks this file and replays its pip steps.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY kasparro ./kasparro
COPY db ./db
COPY etl ./etl
COPY gql ./gql
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000
RUN groupadd --system --gid 10001 kasparro \
    && useradd --system --uid 10001 --gid kasparro --home-dir /app --create-home kasparro
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels kasparro \
    && rm -rf /wheels
WORKDIR /app
# The ETL reads data/data.csv, data/data2.csv and data/assets.csv relative to /app; the
# default SQLite database (sqlite:///kasparro.db) is written here too.
COPY --chown=kasparro:kasparro data ./data
USER kasparro
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/health', timeout=4)"
CMD ["kasparro", "serve", "--host", "0.0.0.0"]
