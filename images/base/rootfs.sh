#!/usr/bin/env bash
# The base layer of PyExec's images, built from Debian's packages alone (no image registry):
# mmdebstrap makes a Debian 12 root file system with Python 3.11, podman imports it as
# localhost/pyexec-base:<tag>. The tag is a hash of this file, so an unchanged base is reused
# and a rebuild of the images starts from cached layers.
#   images/base/rootfs.sh            prints the image name, building it when missing
set -euo pipefail

SUITE=bookworm
MIRROR=http://deb.debian.org/debian
# python3-venv: the images' virtualenvs (Debian splits ensurepip out of python3);
# tini: PID 1 that reaps what kernels leave behind and forwards SIGTERM.
PACKAGES=python3,python3-venv,ca-certificates,tini

here=$(cd "$(dirname "$0")" && pwd)
tag=$SUITE-$(sha256sum "$here/rootfs.sh" | cut -c1-12)
image=localhost/pyexec-base:$tag
podman() { command podman --runtime runc "$@"; }

if podman image exists "$image"; then
    echo "$image"
    exit 0
fi

work=$(mktemp -d /var/tmp/pyexec-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
# Documentation, manual pages and translations are no use in a container: not unpacked.
# The merged-/usr hook merges /usr itself, so no usrmerge package (and its perl) is installed.
mmdebstrap --quiet --variant=minbase --include="$PACKAGES" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --aptopt='APT::Install-Recommends "false"' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*' \
    "$SUITE" "$work/rootfs.tar" \
    "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
    "deb $MIRROR-security $SUITE-security main" >&2
podman import --quiet \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' \
    "$work/rootfs.tar" "$image" >/dev/null
podman tag "$image" "localhost/pyexec-base:$SUITE"
echo "$image"
