# syntax=docker/dockerfile:1
# EcoAI image: the oracle node (`ecoai oracle run`), the web app and the indexer (`ecoai web …`), one image.
#   docker build -t ecoai:0.1.0 .        (or: podman build -t ecoai:0.1.0 .)
# No secret goes into it: the node key, passphrases and database URLs are mounted at run time (deploy/kubernetes).

# ---- stage 1: npm tools (snarkjs, circom2, circomlibjs, anvil, htmx, Chart.js) exactly as package-lock.json pins
FROM node:20-bookworm-slim AS npm
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error \
 && npm cache clean --force

# ---- stage 2: Python 3.11 runtime with the package installed
FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    ECOAI_HOME=/var/lib/ecoai \
    HOME=/tmp
# The same Node 20 the npm stage used (both stages are Debian bookworm, so its shared libraries match); the
# prover's snarkjs worker and circom2 run on it.
COPY --from=npm /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
# oracle.paths finds circuits/ and node_modules/ next to the package (REPO_ROOT = the folder above oracle/), so
# the package is installed in editable mode from /app rather than copied into site-packages.
COPY pyproject.toml README.md LICENSE ape-config.yaml ./
COPY oracle/ oracle/
COPY web/ web/
COPY circuits/ circuits/
COPY contracts/ contracts/
COPY scripts/ scripts/
COPY --from=npm /app/node_modules/ node_modules/
RUN python -m venv "$VIRTUAL_ENV" \
 && "$VIRTUAL_ENV/bin/pip" install --no-compile -e . \
 && groupadd --system --gid 10001 ecoai \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin ecoai \
 && mkdir -p "$ECOAI_HOME" \
 && chown ecoai:ecoai "$ECOAI_HOME"
ENV PATH=/opt/venv/bin:/app/node_modules/.bin:$PATH
USER 10001:10001
# 9464: the oracle's Prometheus exporter; 8000: the web app.
EXPOSE 9464 8000
ENTRYPOINT []
CMD ["ecoai", "--help"]
