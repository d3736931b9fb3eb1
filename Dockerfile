# vras_keras demo image: the library + the Streamlit app (same install steps as `make install`).
#
#   docker build -t vras-keras .
#   docker compose up                    # app on http://localhost:8502 + TF Serving (REST 8501, gRPC 8500)
#
# The app reads the exports in /app/savedmodels (docker-compose.yml mounts ./savedmodels there read-only). It is
# started by the same launcher as `make run` (`vras demo`, the Streamlit settings of .streamlit/config.toml passed
# as flags) with --no-train: the read-only app trains nothing. The demo models are trained and exported by the
# `exporter` service (read-write mounts):
#   docker compose run --rm exporter vras demo --no-app
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    VRAS_SAVEDMODELS=/app/savedmodels \
    PATH=/app/.venv/bin:$PATH

# OpenCV (headless) and Pillow need no system libraries beyond the slim image's; curl is for HEALTHCHECK.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 --shell /bin/bash vras
WORKDIR /app
RUN chown vras:vras /app
USER vras

# = `make install`: a venv, the pinned requirements, then the package itself (editable, no dependencies).
COPY --chown=vras:vras requirements.txt pyproject.toml setup.py README.md ./
RUN python -m venv .venv \
    && .venv/bin/python -m pip install -q --upgrade pip \
    && .venv/bin/python -m pip install -q -r requirements.txt
COPY --chown=vras:vras vras_keras ./vras_keras
COPY --chown=vras:vras apps ./apps
COPY --chown=vras:vras .streamlit ./.streamlit
COPY --chown=vras:vras configs ./configs
COPY --chown=vras:vras savedmodels/README.md savedmodels/models.config ./savedmodels/
RUN .venv/bin/python -m pip install -q --no-deps -e . \
    && touch .venv/.installed

EXPOSE 8502
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8502/_stcore/health || exit 1

CMD ["vras", "demo", "--no-train", "--port", "8502", "--address", "0.0.0.0", "--savedmodels", "/app/savedmodels", \
     "--runs", "/app/runs/demo"]
