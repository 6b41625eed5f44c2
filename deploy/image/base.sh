#!/usr/bin/env bash
# Bootstrap a Debian base image for the Dockerfile from Debian's own packages,
# for machines that can reach a Debian mirror but no container registry.
#
#   deploy/image/base.sh [IMAGE]          # default localhost/meshatlas-base:bookworm
#
# mmdebstrap writes a minimal bookworm root file system (minbase: dpkg, apt,
# the shell and coreutils) with the Debian python3 (3.11), its venv module,
# CA certificates and passwd (the final stage's groupadd/useradd), and streams
# it as a tarball into `podman import`. Manual pages, info pages and
# translations are never unpacked; each package's copyright file is kept.
# /usr is merged by mmdebstrap's own hook, as in Debian's published images, so
# the usrmerge package and the Perl it needs (50 MB) stay out.
#
# Environment: ENGINE (podman, or docker: both have `import`; see engine.sh), SUITE
# (bookworm), DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR, SOURCE_DATE_EPOCH (makes
# the file system reproducible for one set of package versions).
set -euo pipefail

image=${1:-localhost/meshatlas-base:bookworm}
engine=$(dirname "$0")/engine.sh
suite=${SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

mmdebstrap \
    --quiet \
    --variant=minbase \
    --include=python3,python3-venv,ca-certificates,passwd \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    "$suite" - \
    "deb $mirror $suite main" \
    "deb $mirror $suite-updates main" \
    "deb $security $suite-security main" \
  | "$engine" import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --message "Debian $suite minbase + python3, bootstrapped by mmdebstrap" \
    - "$image" >/dev/null

echo "$image: Debian $suite with $("$engine" run --rm --network=none "$image" python3 --version)"
