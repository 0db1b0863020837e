"""Swaps under load: 64 keep-alive connections send POST /models/binary/predict for the whole run while
versions 2, 3, 4 ... (each `digits train --seed N`, copied into the repository with a plain, non-atomic
copy) are published and the previous ones removed: in poll mode (the server finds them) and in explicit
mode (the repository API loads them), ten swaps each.

Every request must be answered 200, with no socket error, and every answer's Model-Version must be a
version that was published while that request was in flight: from the moment its file was copied in (it
cannot serve earlier) to the moment GET /models was seen without it (it must not serve later). Then a
broken version (truncated, a NaN weight, half-copied) is dropped in under load: no request fails, the old
version keeps answering, the index says UNAVAILABLE with the reason, and fixing the file loads it.

Usage: python3 .ci/swap_test.py path/to/digits [seconds per mode, default 30]   (bounded in time)
"""
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from digits_process import start_digits, wait_until

DIGITS = sys.argv[1]
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 30
CONNECTIONS = 64
SWAPS = 10
BODY = open("data/examples/one.json", "rb").read()
BINARY = open("data/models/binary/1/model.json", "rb").read()


def start_server(repository, *options):
    return start_digits(DIGITS, "--model-repository", repository, *options)


class Load:
    """CONNECTIONS threads, each a keep-alive connection sending as fast as it is answered."""

    def __init__(self, port):
        self.port, self.stop = port, threading.Event()
        self.answers, self.failures = [], []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(CONNECTIONS)]
        for thread in self.threads:
            thread.start()

    def run(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        answers = []
        while not self.stop.is_set():
            sent = time.monotonic()
            try:
                connection.request("POST", "/models/binary/predict", BODY, {"Content-Type": "application/json"})
                response = connection.getresponse()
                body = response.read()
            except Exception as error:  # a socket error is a failure like any other
                with self.lock:
                    self.failures.append(f"socket error: {error!r}")
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                continue
            if response.status != 200:
                with self.lock:
                    self.failures.append(f"{response.status}: {body[:200]!r}")
            answers.append((sent, time.monotonic(), response.getheader("Model-Version")))
        connection.close()
        with self.lock:
            self.answers += answers

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        return self.answers, self.failures


def get(port, path):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read()


def post(port, path, body=b""):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request("POST", path, body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read()


def states(port):
    """{version: state} of the binary model, from the repository index."""
    _, body = post(port, "/v2/repository/index")
    return {int(e["version"]): (e["state"], e.get("reason", "")) for e in json.loads(body)
            if e["name"] == "binary" and "version" in e}


def swaps(mode):
    repository = tempfile.mkdtemp(prefix="digits-swaps-")
    staging = tempfile.mkdtemp(prefix="digits-staging-")
    os.makedirs(f"{repository}/binary/1")
    with open(f"{repository}/binary/1/model.json", "wb") as file:
        file.write(BINARY)
    options = ["--model-control", mode] + (["--repository-poll-secs", "0.5"] if mode == "poll" else [])
    server, port = start_server(repository, *options)
    # The window in which each version may answer: from its copy to its observed removal.
    windows = {1: [0.0, None]}
    try:
        load = Load(port)
        pause = SECONDS / (SWAPS + 1)
        for version in range(2, SWAPS + 2):
            time.sleep(pause)
            staged = f"{staging}/{version}.json"
            subprocess.run([DIGITS, "train", "--task", "binary", "--seed", str(version), "--output", staged],
                           check=True, capture_output=True)
            windows[version] = [time.monotonic(), None]
            os.makedirs(f"{repository}/binary/{version}")
            shutil.copyfile(staged, f"{repository}/binary/{version}/model.json")
            if mode == "explicit":
                status, body = post(port, "/v2/repository/models/binary/load", b"{}")
                assert status == 200, (status, body)
            wait_until(lambda: states(port).get(version, ("",))[0] == "READY", f"version {version} to be ready")
            wait_until(lambda: version - 1 not in [v for v, (s, _) in states(port).items() if s == "READY"],
                     f"version {version - 1} to be retired")
            windows[version - 1][1] = time.monotonic()
            shutil.rmtree(f"{repository}/binary/{version - 1}")
        time.sleep(pause)
        answers, failures = load.finish()
    finally:
        server.terminate()
        server.wait(timeout=30)
    shutil.rmtree(repository)
    shutil.rmtree(staging)
    outside = []
    counts = {}
    for sent, received, version in answers:
        counts[version] = counts.get(version, 0) + 1
        start, end = windows.get(int(version or 0), [None, None])
        if start is None or received < start or (end is not None and sent > end):
            outside.append((sent, received, version))
    print(f"{mode}: {len(answers)} requests at {CONNECTIONS} connections in {SECONDS:.0f} s, {SWAPS} swaps; "
          f"{len(failures)} failed (socket errors included); {len(outside)} answered by a version not "
          f"published at the time; answers by version: {dict(sorted(counts.items()))}")
    assert not failures, failures[:5]
    assert not outside, outside[:5]
    assert len(counts) == SWAPS + 1, counts


def broken_versions():
    repository = tempfile.mkdtemp(prefix="digits-broken-")
    os.makedirs(f"{repository}/binary/1")
    with open(f"{repository}/binary/1/model.json", "wb") as file:
        file.write(BINARY)
    server, port = start_server(repository, "--model-control", "poll", "--repository-poll-secs", "0.5")
    text = BINARY.decode()
    first_bias = re.search(r'"bias": \[(-?[0-9.e-]+)', text).group(1)
    broken = {
        "truncated": BINARY[:-10],
        "NaN weight": text.replace(f'"bias": [{first_bias}', '"bias": [NaN', 1).encode(),
        "half-copied": BINARY[:len(BINARY) // 2],
    }
    try:
        load = Load(port)
        for version, (kind, content) in enumerate(broken.items(), start=2):
            os.makedirs(f"{repository}/binary/{version}")
            with open(f"{repository}/binary/{version}/model.json", "wb") as file:
                file.write(content)
            wait_until(lambda: states(port).get(version, ("",))[0] == "UNAVAILABLE", f"{kind} refused")
            state, reason = states(port)[version]
            assert states(port)[1][0] == "READY"
            print(f"  {kind}: version {version} {state}: {reason[:110]}...")
            shutil.rmtree(f"{repository}/binary/{version}")
        # The last one fixed in place: it loads.
        version = len(broken) + 2
        os.makedirs(f"{repository}/binary/{version}")
        with open(f"{repository}/binary/{version}/model.json", "wb") as file:
            file.write(BINARY[:1000])
        wait_until(lambda: states(port).get(version, ("",))[0] == "UNAVAILABLE", "the half file refused")
        with open(f"{repository}/binary/{version}/model.json", "wb") as file:
            file.write(BINARY)
        wait_until(lambda: states(port).get(version, ("",))[0] == "READY", "the fixed file loaded")
        answers, failures = load.finish()
    finally:
        server.terminate()
        server.wait(timeout=30)
    shutil.rmtree(repository)
    versions = sorted({v for _, _, v in answers})
    print(f"broken versions under load: {len(answers)} requests, {len(failures)} failed; answered by versions "
          f"{versions}; the fixed version {version} loaded")
    assert not failures, failures[:5]
    assert versions == ["1", str(version)], versions


swaps("poll")
swaps("explicit")
broken_versions()
print("PASS: swaps under load lose no request and answer only from published versions; broken versions never serve")
