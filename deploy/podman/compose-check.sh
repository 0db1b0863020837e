#!/usr/bin/env bash
# Runs deploy/compose.yaml with podman-compose (Debian's, 1.0.3) on the image build-and-check.sh built:
# three replicas and HAProxy (a local stand-in of haproxy:2.6) on a loopback port. Every replica answers
# through the balancer, and a restart of one under a stream of requests loses none.
# Run as root after deploy/podman/build-and-check.sh: bash deploy/podman/compose-check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source deploy/podman/stand-ins.sh
need_packages podman-compose

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export HAPROXY_IMAGE=localhost/stand-in-haproxy:2.6 DIGITS_PUBLISH="127.0.0.1:$port"
project=digits-compose-check
compose() { podman-compose -f deploy/compose.yaml -p "$project" "$@" 2>&1 | grep -v 'systemd' || true; }
logs() { podman logs "${project}_$1_1" 2>/dev/null || true; }
scratch=$(mktemp -d)
trap 'compose down >/dev/null; podman network rm -f "${project}_default" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT

compose up -d --no-build >"$scratch/up.log"
podman-compose version 2>/dev/null | grep -i "^podman-compose.*version" || true
predict() {
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 -H 'Content-Type: application/json' \
        --data @data/examples/one.json "http://127.0.0.1:$port/predict"
}
# Every replica ready, then two of HAProxy's 500 ms checks to take it into rotation.
for number in 1 2 3; do
    for try in $(seq 1 150); do
        [ "$(logs "digits-$number" | grep -c 'ready on')" -gt 0 ] && break
        if [ "$try" = 150 ]; then
            echo "digits-$number did not start:"
            cat "$scratch/up.log"
            logs "digits-$number" | tail -5
            exit 1
        fi
        sleep 0.2
    done
done
sleep 1.5
for _ in $(seq 1 30); do predict; done >"$scratch/codes"
echo "30 requests through the balancer: $(sort "$scratch/codes" | uniq -c | awk '{printf "%s answered %s; ", $1, $2}')"
[ "$(grep -c '^200$' "$scratch/codes")" = 30 ]
for number in 1 2 3; do
    answered=$(logs "digits-$number" | grep -c 'POST /predict 200' || true)
    echo "digits-$number answered $answered of them"
    [ "$answered" -gt 0 ]
done

# A stream of requests while digits-1 restarts: SIGTERM, drain, exit, start again.
(
    end=$((SECONDS + 20))
    while [ $SECONDS -lt $end ]; do predict; done >"$scratch/during"
) &
stream=$!
sleep 2
compose restart digits-1 >/dev/null
wait "$stream"
echo "while digits-1 restarted: $(sort "$scratch/during" | uniq -c | awk '{printf "%s answered %s; ", $1, $2}')"
restarts=$(logs digits-1 | grep -c 'ready on' || true)
signals=$(logs digits-1 | grep -c 'received signal 15' || true)
echo "digits-1 received SIGTERM $signals time(s) and was ready $restarts times"
[ "$signals" = 1 ] && [ "$restarts" = 2 ]
[ -s "$scratch/during" ] && [ -z "$(grep -v '^200$' "$scratch/during")" ]
