# syntax=docker/dockerfile:1
# meshatlas: one image for the crawler (`meshatlas discover`) and the
# catalogue server (`meshatlas serve`).
#
#   docker build -t meshatlas:0.1.0 .
#   make image      # without Docker or a registry: podman on a Debian base
#                   # bootstrapped by mmdebstrap (deploy/image/)
#
# PYTHON_IMAGE is any Debian-based image with Python 3.11+ as `python3`, its
# venv module, and groupadd/useradd: the official python:3.11-slim-bookworm
# (Python in /usr/local), or Debian bookworm with python3 and python3-venv
# (Python in /usr, as deploy/image/base.sh builds it). Both stages must use the
# same one: the virtualenv links to the base's interpreter.
#
# Every dependency installs from a binary wheel, so neither stage needs a
# compiler. The final stage holds the virtualenv and nothing else of the
# build; it runs as a numeric non-root user and writes only under /tmp (or a
# mounted volume), so it runs with a read-only root file system.

# Pin by digest in production: python:3.11-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# pip trusts the base's CA store rather than the bundle it carries, so a build
# behind a TLS-inspecting proxy only needs that store to hold the proxy's CA
# (deploy/image/build.sh mounts the host's over it for the build's RUN steps).
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
RUN python3 -m venv /opt/meshatlas
WORKDIR /src
COPY pyproject.toml README.md ./
COPY discovery/ discovery/
COPY graph/ graph/
COPY catalog/ catalog/
COPY meshatlas/ meshatlas/
COPY fixtures/ fixtures/
# hatchling (the build backend) comes as a wheel too; only the project itself
# is built from source, and it is pure Python. Nothing installed needs pip or
# setuptools at run time.
RUN /opt/meshatlas/bin/pip install --only-binary=:all: --no-binary=meshatlas . \
    && /opt/meshatlas/bin/pip uninstall --yes pip setuptools \
    && /opt/meshatlas/bin/python -m compileall -q /opt/meshatlas/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="meshatlas" \
      org.opencontainers.image.description="Discover services and APIs in Kubernetes + Istio clusters; API catalogue and dependency graph." \
      org.opencontainers.image.licenses="Apache-2.0"
# Bytecode was compiled in the build stage; nothing is written next to the code.
ENV PATH=/opt/meshatlas/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
# The official image ships pip, setuptools and wheel with its Python; the
# virtualenv needs none of them at run time. Debian's python3 has no pip.
RUN groupadd --system --gid 10001 meshatlas \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin meshatlas \
    && if python3 -m pip --version >/dev/null 2>&1; then \
         python3 -m pip uninstall --yes --root-user-action=ignore pip setuptools wheel; \
       fi
COPY --from=build /opt/meshatlas /opt/meshatlas
# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["meshatlas"]
CMD ["--help"]
