#!/usr/bin/env bash
# Build PyExec's two images with podman, without any image registry:
#   localhost/pyexec:<version>         API and worker (Containerfile)
#   localhost/pyexec-kernel:<version>  the kernel pods Enterprise Gateway starts (images/kernel/)
# FROM the Debian base that images/base/rootfs.sh makes (and caches); <version> is the
# project's version, which the helm chart's appVersion names. Prints each image's size and
# build time. IMAGES="pyexec" or IMAGES="kernel" builds one.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(python3 -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])")
images=${IMAGES:-pyexec kernel}
podman() { command podman --runtime runc "$@"; }

started=$(date +%s)
base=$(images/base/rootfs.sh)
echo "base image: $base ($(( $(date +%s) - started )) s)"

# pip inside the build reaches PyPI through this host's TLS setup (its CA bundle, which may
# hold a proxy's CA): both are mounted for the build only, never copied into a layer.
build_args=(--network host --ulimit nofile=1024:1024 --ulimit nproc=4096:4096
            --layers --build-arg "BASE_IMAGE=$base")
ca=/etc/ssl/certs/ca-certificates.crt
if [ -f "$ca" ]; then
    pipconf=$(mktemp /tmp/pyexec-pip.XXXXXX.conf)
    trap 'rm -f "$pipconf"' EXIT
    printf '[global]\ncert = %s\n' "$ca" > "$pipconf"
    build_args+=(--volume "$ca:$ca:ro" --volume "$pipconf:/etc/pip.conf:ro")
fi

for image in $images; do
    case $image in
        pyexec) name=localhost/pyexec:$version; args=(-f Containerfile .) ;;
        kernel) name=localhost/pyexec-kernel:$version; args=(-f images/kernel/Containerfile images) ;;
        *) echo "unknown image: $image (pyexec, kernel)" >&2; exit 2 ;;
    esac
    t0=$(date +%s)
    podman build --quiet "${build_args[@]}" --tag "$name" "${args[@]}" >/dev/null
    size=$(podman image inspect --format '{{.Size}}' "$name")
    echo "$name: $(( size / 1000000 )) MB, built in $(( $(date +%s) - t0 )) s"
done
