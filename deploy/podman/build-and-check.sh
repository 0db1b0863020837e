#!/usr/bin/env bash
# Builds the project's real Dockerfile with podman on a machine that reaches no image registry, then runs
# the image as users run it and checks it. Run as root from anywhere: bash deploy/podman/build-and-check.sh
#
# The base images are local stand-ins for the official ones (deploy/podman/stand-ins.sh), named through the
# Dockerfile's two ARGs. Where git reads GitHub from a local mirror (url.<mirror>.insteadOf in
# /etc/gitconfig, as on our CI), the mirror and that setting are mounted read-only into the build, so the
# Dockerfile itself stays as a user with the internet needs it (`swift package resolve` against GitHub).
# podman's settings for this kind of machine are in deploy/podman/containers.conf; --format docker keeps
# the HEALTHCHECK, which OCI images cannot hold.
set -euo pipefail
cd "$(dirname "$0")/../.."
source deploy/podman/stand-ins.sh

step() { printf '\n== %s\n' "$*"; }
# podman 4.3 prints errors about systemd timers, which this machine lacks, on stderr even when it succeeds.
quiet() { grep -v 'systemd' >&2 || true; }

scratch=$(mktemp -d)
containers=()
trap 'podman rm -f "${containers[@]}" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT

step "podman build of the Dockerfile"
mounts=(-v "$toolchain:$toolchain:ro")
mirror=$(git config --system --get-regexp '^url\..*\.insteadof$' 2>/dev/null | sed -n '1s/^url\.\(.*\)\.insteadof .*/\1/p' || true)
if [ -n "$mirror" ]; then
    mounts+=(-v "$mirror:$mirror:ro" -v /etc/gitconfig:/etc/gitconfig:ro)
fi
build_log="$scratch/build.log"
started=$(date +%s)
# The host's network for apt-get and git inside the build steps.
podman build --format docker --pull=never --network host \
    --build-arg SWIFT_IMAGE=localhost/stand-in-swift:6.3-bookworm \
    --build-arg RUNTIME_IMAGE=localhost/stand-in-debian:bookworm-slim \
    "${mounts[@]}" -t localhost/digits:latest . >"$build_log" 2>&1 </dev/null || {
    tail -40 "$build_log"
    echo "podman build failed"
    exit 1
}
tail -4 "$build_log"
echo "built in $(($(date +%s) - started)) s; image size $(podman image inspect localhost/digits:latest --format '{{.Size}}' | awk '{printf "%.0f MB", $1 / 1e6}')"
podman history localhost/digits:latest --format '{{.Size}}\t{{.CreatedBy}}' | cut -c1-120

step "the image as users run it: its own user, read-only root, no capabilities, port 8080 published on loopback"
# Starts the image (extra podman run options in "$@") with a name of its own, so that a failed start
# leaves nothing behind unnamed; sets $container and $port (the loopback port podman chose for 8080).
run_image() {
    container="digits-check-$$-${#containers[@]}"
    containers+=("$container")
    podman run -d --name "$container" --read-only --cap-drop=ALL --security-opt no-new-privileges \
        -p 127.0.0.1::8080 "$@" localhost/digits:latest >/dev/null 2> >(quiet)
    port=$(podman port "$container" 8080/tcp | sed 's/.*://')
}
# Runs the image's HEALTHCHECK until it passes; 150 tries, 0.2 s apart.
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
expect() {
    if [ "$1" != "$2" ]; then
        echo "FAIL: $3: expected '$2', got '$1'"
        exit 1
    fi
}

run_image -e DIGITS_DRAIN_DELAY=3
wait_healthy
echo "healthcheck: healthy"
user=$(podman exec "$container" id -u 2>/dev/null)
capabilities=$(podman exec "$container" sh -c 'grep CapEff /proc/1/status' 2>/dev/null | cut -f2)
echo "user $user; effective capabilities $capabilities"
expect "$user" 10001 "the user"
expect "$capabilities" 0000000000000000 "the capabilities"
touched=$(podman exec "$container" touch /app/x 2>&1 || true)
echo "writing to the root filesystem: ${touched:-allowed}"
case "$touched" in *"Read-only file system"*) ;; *) exit 1 ;; esac
answer=$(curl -sf -H 'Content-Type: image/png' --data-binary @data/examples/seven.png \
    "http://127.0.0.1:$port/models/ten-class/predict")
echo "${answer:0:60}"
case "$answer" in '{"predicted_class":7,'*) ;; *) exit 1 ;; esac
# SIGTERM (what podman stop sends) with 3 s of drain: the container is still running, and its health check
# fails. (During `podman stop` itself podman refuses to run a check: the container is "stopping".)
podman kill --signal TERM "$container" >/dev/null
sleep 1
expect "$(podman inspect "$container" --format '{{.State.Status}}')" running "the state while draining"
set +e
podman healthcheck run "$container" >/dev/null 2>&1
check=$?
set -e
echo "healthcheck while draining: exit $check (1: unhealthy)"
expect "$check" 1 "the healthcheck while draining"
echo "exit status after SIGTERM: $(podman wait "$container")"
expect "$(exit_code)" 0 "the exit status after SIGTERM"

# podman stop with a 10,000-image batch for the CNN (about 1.5 s of work) in flight: it is answered, and the
# container exits 0 within the grace period. The log shows the batch answered after the signal.
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
expect "$(cat "$batch.status")" 200 "the batch's status"
expect "$(exit_code)" 0 "the exit status after podman stop"
after_signal=$(podman logs "$container" 2>/dev/null | sed -n '/received signal 15/,$p' | grep -c 'predict/batch 200' || true)
expect "$after_signal" 1 "batch answers logged after the signal"

# podman stop while the models still load (about 5 s): PID 1 must not ignore the signal.
run_image
sleep 0.5
started=$(date +%s)
podman stop -t 30 "$container" >/dev/null 2>&1
stopped_in=$(($(date +%s) - started))
said=$(podman logs "$container" 2>&1 | grep -o 'received signal 15 while starting: stopped before serving' || true)
echo "podman stop while starting: exit status $(exit_code) after $stopped_in s; ${said:-no start-up signal logged}"
expect "$(exit_code)" 0 "the exit status after podman stop while starting"
[ -n "$said" ] && [ "$stopped_in" -lt 10 ]

step "bad configuration fails fast"
set +e
message=$(timeout 60 podman run --rm --read-only --cap-drop=ALL -e DIGITS_MODEL=/nope localhost/digits:latest 2>&1)
status=$?
set -e
message=$(echo "$message" | grep -v 'systemd' | tail -1)
echo "exit status $status: ${message:0:200}"
expect "$status" 1 "the exit status with DIGITS_MODEL=/nope"
case "$message" in *"/nope: open failed"*) ;; *) exit 1 ;; esac
