"""Reloads: what loading and unloading models costs the requests of the others, and whether memory comes back.

1. The p99 of POST /models/binary/predict (wrk, 16 connections) with nothing else happening, then in the
   same run while the ten-class model is loaded and unloaded in a loop through the repository API, and
   again without: the reloads' cost to another model's requests.
2. Resident memory after 1 and after 200 load/unload cycles of the ten-class model (VmRSS): the server
   must not grow with each cycle.

Usage: python3 Benchmarks/reload.py [--cycles 200] [--duration 10] [--digits .build/release/digits]
Needs wrk (Debian). Builds nothing: run `swift build -c release --product digits` first.
"""
import argparse
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from run import DIGITS, bodies, rss_kb, wait_for_port, free_port, wrk  # noqa: E402


def call(port, path, body=b"{}"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request("POST", path, body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    assert response.status == 200, (path, response.status)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--digits", default=DIGITS)
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="digits-reload-")
    repository = os.path.join(scratch, "models")
    for name in ["binary", "ten-class"]:
        os.makedirs(f"{repository}/{name}/1")
        shutil.copy(f"data/models/{name}/1/model.json", f"{repository}/{name}/1/model.json")
    port = free_port()
    server = subprocess.Popen([args.digits, "serve", "--host", "127.0.0.1", "--port", str(port),
                               "--model-repository", repository, "--model-control", "explicit",
                               "--load-model", "binary", "--log-level", "warning"])
    try:
        wait_for_port(port)
        script = bodies(scratch)["predict"][0]
        url = f"http://127.0.0.1:{port}/models/binary/predict"
        wrk(url, 16, 2, script)  # warm-up

        stop = threading.Event()
        reloads = [0]

        def reload_loop():
            while not stop.is_set():
                call(port, "/v2/repository/models/ten-class/load")
                call(port, "/v2/repository/models/ten-class/unload")
                reloads[0] += 1

        quiet = wrk(url, 16, args.duration, script)
        thread = threading.Thread(target=reload_loop)
        thread.start()
        busy = wrk(url, 16, args.duration, script)
        stop.set()
        thread.join()
        quiet_again = wrk(url, 16, args.duration, script)

        call(port, "/v2/repository/models/ten-class/load")
        call(port, "/v2/repository/models/ten-class/unload")
        time.sleep(0.5)
        after_first, _ = rss_kb(server.pid)
        started = time.monotonic()
        for _ in range(args.cycles - 1):
            call(port, "/v2/repository/models/ten-class/load")
            call(port, "/v2/repository/models/ten-class/unload")
        elapsed = time.monotonic() - started
        time.sleep(0.5)
        after_all, peak = rss_kb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(scratch)

    print(f"POST /models/binary/predict, 16 connections, {args.duration} s each, one run:")
    for label, result in [("no reloads", quiet), (f"ten-class loaded and unloaded in a loop ({reloads[0]} cycles)",
                                                  busy), ("no reloads, again", quiet_again)]:
        print(f"  {label}: {result['rps']:,.0f} req/s, p50 {result['p50']:.3f} ms, p99 {result['p99']:.3f} ms, "
              f"errors {result['errors']} {result['socket_errors']}")
    print(f"ten-class load+unload cycles: {args.cycles} ({elapsed / max(1, args.cycles - 1) * 1000:.0f} ms each); "
          f"resident after the first {after_first / 1024:.1f} MB, after the last {after_all / 1024:.1f} MB "
          f"({(after_all - after_first) / 1024:+.1f} MB), peak {peak / 1024:.1f} MB")
    if quiet["errors"] or busy["errors"] or quiet_again["errors"]:
        sys.exit("some requests failed")


if __name__ == "__main__":
    main()
