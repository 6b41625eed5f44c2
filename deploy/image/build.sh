#!/usr/bin/env bash
# Build the meshatlas image from the Dockerfile without Docker or a registry.
#
#   deploy/image/build.sh [IMAGE]        # default localhost/meshatlas:<version>
#
# 1. As root, installs podman, runc and mmdebstrap from Debian when missing.
# 2. Bootstraps BASE_IMAGE (default localhost/meshatlas-base:bookworm) with
#    base.sh unless it exists; BASE_REFRESH=1 bootstraps it again (security
#    updates).
# 3. Builds the Dockerfile on it with the host's network, as pip fetches the
#    dependencies from PyPI, and prints the image's size.
#
# Behind a TLS-inspecting proxy pip must trust the proxy's CA: when
# BUILD_CA_BUNDLE (default: PIP_CERT) names a CA bundle, it is mounted
# read-only over the base's /etc/ssl/certs/ca-certificates.crt for the build's
# RUN steps, which the Dockerfile's pip trusts; it is not copied into the image.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
engine=$here/engine.sh
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/pyproject.toml")
image=${1:-localhost/meshatlas:$version}
base=${BASE_IMAGE:-localhost/meshatlas-base:bookworm}

missing=()
command -v "${ENGINE:-podman}" >/dev/null || missing+=(podman)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
if [ "$(basename "${ENGINE:-podman}")" = podman ] && [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
    command -v runc >/dev/null || missing+=(runc)   # see engine.sh
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install these Debian packages first: ${missing[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

if [ "${BASE_REFRESH:-0}" = 1 ] || ! "$engine" image inspect "$base" >/dev/null 2>&1; then
    "$here/base.sh" "$base"
fi

build=(build --network host --build-arg "PYTHON_IMAGE=$base" --tag "$image")
ca_bundle=${BUILD_CA_BUNDLE:-${PIP_CERT:-}}
if [ "$(basename "${ENGINE:-podman}")" = podman ]; then
    build+=(--pull=never)   # the base exists only here
    if [ -n "$ca_bundle" ]; then
        build+=(--volume "$(realpath "$ca_bundle"):/etc/ssl/certs/ca-certificates.crt:ro")
    fi
elif [ -n "$ca_bundle" ]; then
    echo "note: $ENGINE build mounts no volumes; $ca_bundle is not handed to pip" >&2
fi

previous=$("$engine" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
"$engine" "${build[@]}" "$root"
current=$("$engine" image inspect --format '{{.Id}}' "$image")
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
    # The image this build replaced; kept while another tag or a container uses it.
    "$engine" rmi "$previous" >/dev/null 2>&1 || true
fi
size=$("$engine" image inspect --format '{{.Size}}' "$image")
echo "$image: $((size / 1000000)) MB ($size bytes, uncompressed)"
