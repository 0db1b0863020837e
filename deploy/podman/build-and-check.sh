#!/usr/bin/env bash
# Builds the project's real Dockerfile with podman on a machine that reaches no image registry, then runs
# the image as users run it and checks it. Run as root from anywhere: bash deploy/podman/build-and-check.sh
#
# The base images are local stand-ins for the official ones (deploy/podman/stand-ins.sh), named through the
# Dockerfile's two ARGs. The Swift packages come from this machine's mirror: git's url.<mirror>.insteadOf
# (/etc/gitconfig) and the mirror folder are mounted read-only into the build, so the Dockerfile itself
# stays as a user with the internet needs it (`swift package resolve` against GitHub). podman's settings
# for this kind of machine are in deploy/podman/containers.conf; --format docker keeps the HEALTHCHECK.
set -euo pipefail
cd "$(dirname "$0")/../.."
source deploy/podman/stand-ins.sh

mirror=$(git config --system --get-regexp '^url\..*\.insteadof$' | head -1 | sed 's/^url\.\(.*\)\.insteadof .*/\1/')
step() { printf '\n== %s\n' "$*"; }

step "podman build of the Dockerfile"
started=$(date +%s)
# The host's network for apt-get and git inside the build steps.
podman build --format docker --pull=never --network host \
    --build-arg SWIFT_IMAGE=localhost/stand-in-swift:6.3-bookworm \
    --build-arg RUNTIME_IMAGE=localhost/stand-in-debian:bookworm-slim \
    -v "$toolchain:$toolchain:ro" -v "$mirror:$mirror:ro" -v /etc/gitconfig:/etc/gitconfig:ro \
    -t localhost/digits:latest . 2>&1 | tail -4
echo "built in $(($(date +%s) - started)) s; image size $(podman image inspect localhost/digits:latest --format '{{.Size}}' | awk '{printf "%.0f MB", $1 / 1e6}')"
podman history localhost/digits:latest --format '{{.Size}}\t{{.CreatedBy}}' | cut -c1-120

step "the image as users run it: its own user, read-only root, no capabilities, port 8080 published on loopback"
# A free port on loopback for the container's 8080.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
scratch=$(mktemp -d)
containers=()
trap 'podman rm -f "${containers[@]}" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
# Starts the image (extra podman run options in "$@"); sets $container. IDs come from stdout only: podman
# prints errors about systemd timers, which this machine lacks, on stderr.
run_image() {
    container=$(podman run -d --read-only --cap-drop=ALL -p "127.0.0.1:$port:8080" "$@" localhost/digits:latest 2>/dev/null)
    containers+=("$container")
}
# Runs the image's HEALTHCHECK until it passes (30 s at most).
wait_healthy() {
    for _ in $(seq 1 150); do
        podman healthcheck run "$container" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "the container never became healthy:"
    podman logs "$container" 2>&1 | tail -5
    return 1
}
exit_code() { podman inspect "$container" --format '{{.State.ExitCode}}'; }

run_image -e DIGITS_DRAIN_DELAY=3
wait_healthy
echo "healthcheck: healthy"
echo "user: $(podman exec "$container" id -u 2>/dev/null); capabilities: $(podman exec "$container" grep CapEff /proc/1/status 2>/dev/null | cut -f2)"
touched=$(podman exec "$container" touch /app/x 2>&1 || true)
echo "writing to the root filesystem: ${touched:-allowed}"
case "$touched" in *"Read-only file system"*) ;; *) exit 1 ;; esac
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
[ "$(exit_code)" = 0 ]

# podman stop with a 10,000-image batch for the CNN (about 1.5 s of work) in flight: it is answered, and the
# container exits 0 within the grace period.
run_image
wait_healthy
batch="$scratch/batch.json"
python3 -c 'import json; print(json.dumps({"images": [[0.5] * 400] * 10000}))' >"$batch"
curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$batch" \
    "http://127.0.0.1:$port/models/ten-class/predict/batch" >"$batch.status" &
in_flight=$!
sleep 0.5
started=$(date +%s)
podman stop -t 30 "$container" >/dev/null 2>&1
wait "$in_flight"
echo "podman stop with a batch in flight: the batch HTTP $(cat "$batch.status"), exit status $(exit_code)" \
    "after $(($(date +%s) - started)) s"
[ "$(cat "$batch.status")" = 200 ] && [ "$(exit_code)" = 0 ]

# podman stop while the models still load (about 5 s): PID 1 must not ignore the signal.
run_image
sleep 0.5
started=$(date +%s)
podman stop -t 30 "$container" >/dev/null 2>&1
echo "podman stop while starting: exit status $(exit_code) after $(($(date +%s) - started)) s;" \
    "$(podman logs "$container" 2>&1 | grep -o 'received signal.*' | tail -1)"
[ "$(exit_code)" = 0 ] && [ $(($(date +%s) - started)) -lt 10 ]

step "bad configuration fails fast"
set +e
message=$(podman run --rm --read-only --cap-drop=ALL -e DIGITS_MODEL=/nope localhost/digits:latest 2>&1)
status=$?
set -e
echo "exit status $status: $(echo "$message" | grep -v 'level=' | tail -1 | cut -c1-200)"
[ "$status" -ne 0 ]
