# A small image of the service, running as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements.lock ./
RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN /venv/bin/pip install --no-cache-dir --no-deps .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 auction
COPY --from=build /venv /venv
COPY --from=build /src/alembic.ini /app/alembic.ini
COPY --from=build /src/migrations /app/migrations
WORKDIR /app
ENV PATH=/venv/bin:$PATH AUCTION_DATA_DIR=/data AUCTION_HOST=0.0.0.0
RUN mkdir /data /keys && chown auction /data /keys
USER auction
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["auction", "serve"]
