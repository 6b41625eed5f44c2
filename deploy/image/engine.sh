#!/usr/bin/env bash
# The container engine (ENGINE, default podman) with this host's needs met:
#
#   deploy/image/engine.sh run --rm localhost/meshatlas:0.1.0 --version
#
# On a host without a pure cgroup v2 hierarchy podman reads
# deploy/image/containers.conf (runc, explicit ulimits), unless CONTAINERS_CONF
# already names a file. Elsewhere, and for docker, the engine runs as it is.
set -euo pipefail

engine=${ENGINE:-podman}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ "$(basename "$engine")" = podman ] && [ -z "${CONTAINERS_CONF:-}" ] \
    && [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
    export CONTAINERS_CONF=$here/containers.conf
fi
exec "$engine" "$@"
