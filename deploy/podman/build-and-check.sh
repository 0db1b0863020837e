#!/usr/bin/env bash
# Builds the project's real Dockerfile with podman on a machine that reaches no image registry, then runs
# the image as users run it and checks it. Run as root from anywhere: bash deploy/podman/build-and-check.sh
#
# Stand-ins for the two base images, made here and tagged with the names the Dockerfile uses (with the
# internet, Docker or podman pull the official ones instead and this script is not needed):
#   debian:bookworm-slim  a minimal Debian bookworm: debootstrap --variant=minbase, imported as an image;
#   swift:6.3-bookworm    that base with the Swift toolchain's runtime packages. The toolchain itself is
#                         this machine's (the folder `swift` lives in), bind-mounted into the build steps.
# The Swift packages come from this machine's mirror: git's url.<mirror>.insteadOf (/etc/gitconfig) and the
# mirror folder are mounted read-only into the build. The Dockerfile itself stays as a user with the
# internet needs it (`swift package resolve` against GitHub).
#
# podman 4.3 on this kind of machine needs runc, lowered limits and the host's network (crun and the
# default limits fail); --format docker keeps the HEALTHCHECK. Base images are made once and reused.
set -euo pipefail
cd "$(dirname "$0")/../.."

flags=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1000:1000 --network host)
toolchain=$(dirname "$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")")
mirror=$(git config --system --get-regexp '^url\..*\.insteadof$' | head -1 | sed 's/^url\.\(.*\)\.insteadof .*/\1/')
step() { printf '\n== %s\n' "$*"; }

for package in podman runc debootstrap; do
    dpkg -s "$package" >/dev/null 2>&1 || missing="${missing:-} $package"
done
if [ -n "${missing:-}" ]; then
    step "installing$missing"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

if ! podman image exists localhost/debian:bookworm-slim; then
    step "stand-in debian:bookworm-slim: debootstrap --variant=minbase bookworm"
    rootfs=$(mktemp -d)
    debootstrap --variant=minbase bookworm "$rootfs" >/dev/null
    # What the official slim image leaves out: documentation, manual pages, package lists.
    rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*
    tar -C "$rootfs" -c . | podman import - localhost/debian:bookworm-slim >/dev/null
    rm -rf "$rootfs"
fi
if ! podman image exists localhost/swift:6.3-bookworm; then
    step "stand-in swift:6.3-bookworm: the base, the toolchain's runtime packages, $toolchain on PATH"
    context=$(mktemp -d)
    cat >"$context/Containerfile" <<CONTAINERFILE
FROM localhost/debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends binutils ca-certificates git libc6-dev \
    libcurl4 libedit2 libgcc-12-dev libncurses6 libpython3.11 libsqlite3-0 libstdc++-12-dev libxml2 libz3-4 \
    pkg-config tzdata zlib1g-dev && apt-get clean && rm -rf /var/lib/apt/lists/*
ENV PATH=$toolchain/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CONTAINERFILE
    podman build --format docker --pull=never "${flags[@]}" -t localhost/swift:6.3-bookworm "$context" >/dev/null
    rm -rf "$context"
fi

step "podman build of the Dockerfile"
started=$(date +%s)
podman build --format docker --pull=never "${flags[@]}" -v "$toolchain:$toolchain:ro" \
    -v "$mirror:$mirror:ro" -v /etc/gitconfig:/etc/gitconfig:ro -t localhost/digits:latest . 2>&1 | tail -4
echo "built in $(($(date +%s) - started)) s; image size $(podman image inspect localhost/digits:latest --format '{{.Size}}' | awk '{printf "%.0f MB", $1 / 1e6}')"
podman history localhost/digits:latest --format '{{.Size}}\t{{.CreatedBy}}' | cut -c1-120

step "the image as users run it: read-only root, no capabilities"
# A free port on loopback (the container shares the host's network), and 3 s of draining after SIGTERM.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
container=$(podman run -d "${flags[@]}" --read-only --cap-drop=ALL -e DIGITS_HOST=127.0.0.1 -e DIGITS_PORT="$port" \
    -e DIGITS_DRAIN_DELAY=3 localhost/digits:latest 2>/dev/null)
scratch=$(mktemp -d)
trap 'podman rm -f "$container" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
for _ in $(seq 1 100); do
    podman healthcheck run "$container" >/dev/null 2>&1 && break
    sleep 0.2
done
if ! podman healthcheck run "$container" >/dev/null 2>&1; then
    echo "the container never became healthy:"
    podman logs "$container" 2>&1 | tail -5
    exit 1
fi
echo "healthcheck: healthy"
echo "user: $(podman exec "$container" id -u 2>/dev/null)"
curl -sf -H 'Content-Type: image/png' --data-binary @data/examples/seven.png \
    "http://127.0.0.1:$port/models/ten-class/predict" | cut -c1-60
echo
# SIGTERM (what podman stop sends) with 3 s of drain: the container is still running, and its health check
# fails. (During `podman stop` itself podman refuses to run a check: the container is "stopping".)
podman kill --signal TERM "$container" >/dev/null
sleep 1
[ "$(podman inspect "$container" --format '{{.State.Status}}')" = running ]
set +e
podman healthcheck run "$container" >/dev/null 2>&1
check=$?
set -e
echo "healthcheck while draining: exit $check (1: unhealthy)"
[ "$check" = 1 ]
echo "exit status after SIGTERM: $(podman wait "$container")"
[ "$(podman inspect "$container" --format '{{.State.ExitCode}}')" = 0 ]
podman rm "$container" >/dev/null

# podman stop with a 10,000-image batch for the CNN (about 1.5 s of work) in flight: it is answered, and the
# container exits 0 within the grace period.
container=$(podman run -d "${flags[@]}" --read-only --cap-drop=ALL -e DIGITS_HOST=127.0.0.1 -e DIGITS_PORT="$port" \
    localhost/digits:latest 2>/dev/null)
for _ in $(seq 1 100); do
    podman healthcheck run "$container" >/dev/null 2>&1 && break
    sleep 0.2
done
batch="$scratch/batch.json"
python3 -c 'import json; print(json.dumps({"images": [[0.5] * 400] * 10000}))' >"$batch"
curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$batch" \
    "http://127.0.0.1:$port/models/ten-class/predict/batch" >"$batch.status" &
in_flight=$!
sleep 0.5
started=$(date +%s)
podman stop -t 30 "$container" >/dev/null 2>&1
wait "$in_flight"
echo "podman stop with a batch in flight: the batch HTTP $(cat "$batch.status"), exit status" \
    "$(podman inspect "$container" --format '{{.State.ExitCode}}') after $(($(date +%s) - started)) s"
[ "$(cat "$batch.status")" = 200 ] && [ "$(podman inspect "$container" --format '{{.State.ExitCode}}')" = 0 ]

step "bad configuration fails fast"
set +e
message=$(podman run --rm "${flags[@]}" --read-only --cap-drop=ALL -e DIGITS_MODEL=/nope localhost/digits:latest 2>&1)
status=$?
set -e
echo "exit status $status: $(echo "$message" | tail -1 | cut -c1-200)"
[ "$status" -ne 0 ]
