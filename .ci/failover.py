"""The failover test: three replicas of the release build behind HAProxy (deploy/haproxy/haproxy.cfg),
a steady load of POST /predict and GET /model through the balancer, and meanwhile

  1. a rolling restart: each replica in turn gets SIGTERM, drains, exits and is replaced; 0 requests
     may fail;
  2. a crash: one replica is killed with SIGKILL mid-load and replaced; the failures are counted and
     reported, with what the balancer logged about them.

Every request is counted; a failure is any exception or any answer other than the expected 200 and body.
The replicas are processes of a build, or containers of the image (published on loopback ports, run
read-only with no capabilities, stopped with podman stop and killed with podman kill):
Usage: python3 .ci/failover.py path/to/digits          (run from the project's top folder; bounded in time)
       python3 .ci/failover.py --image localhost/digits:latest
"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

from digits_process import exit_on_sigterm, free_port, memory, podman, wait_until

IMAGE = sys.argv[2] if sys.argv[1] == "--image" else None
DIGITS = None if IMAGE else sys.argv[1]
DIGIT_BODY = open("data/examples/one.json", "rb").read()
THREADS = 8
DEADLINE = time.monotonic() + 300  # the whole test stops by itself
# The drain and grace period every replica runs with, whether a process or a container.
SETTINGS = {"DIGITS_LOG_LEVEL": "notice", "DIGITS_DRAIN_DELAY": "2", "DIGITS_GRACE_PERIOD": "10"}


class ProcessReplica:
    def __init__(self, port, number):
        self.port = port
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [DIGITS, "serve", "--host", "127.0.0.1", "--port", str(self.port)], env=dict(os.environ, **SETTINGS),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in self.process.stdout:
            if "ready on" in line:
                threading.Thread(target=self.process.stdout.read, daemon=True).start()
                return
        raise SystemExit(f"replica on port {self.port} did not start")

    def stop(self, sig):
        self.process.send_signal(sig)
        return self.process.wait(timeout=60)

    def pid(self):
        return self.process.pid

    def remove(self):
        if self.process and self.process.poll() is None:
            self.process.kill()


class ContainerReplica:
    """A container of IMAGE, its port 8080 published on a loopback port."""

    def __init__(self, port, number):
        self.port = port
        self.name = f"digits-failover-{number}"

    def start(self):
        self.remove()
        settings = [option for name, value in SETTINGS.items() for option in ("-e", f"{name}={value}")]
        started = podman("run", "-d", "--name", self.name, "--read-only", "--cap-drop=ALL",
                         "--security-opt", "no-new-privileges",
                              "-p", f"127.0.0.1:{self.port}:8080", *settings, IMAGE)
        if started.returncode != 0:
            raise SystemExit(f"podman run of {self.name} failed with status {started.returncode}")
        for _ in range(240):  # a minute: every podman call costs tens of milliseconds of CPU
            if "ready on" in podman("logs", self.name).stdout:
                return
            time.sleep(0.25)
        raise SystemExit(f"{self.name} did not start")

    def stop(self, sig):
        if sig == signal.SIGTERM:
            podman("stop", "-t", "30", self.name)  # the image's STOPSIGNAL, SIGTERM
        else:
            podman("kill", "--signal", signal.Signals(sig).name, self.name)
        return int(podman("wait", self.name).stdout.strip())

    def pid(self):
        return int(podman("inspect", self.name, "--format", "{{.State.Pid}}").stdout.strip())

    def remove(self):
        podman("rm", "-f", self.name)


class Load:
    """THREADS workers, each on its own keep-alive connection to the balancer, alternating requests."""

    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.sent = 0
        self.failures = []
        self.running = True
        self.workers = [threading.Thread(target=self.work, args=(index,)) for index in range(THREADS)]

    def work(self, index):
        connection = None
        count = 0
        while self.running and time.monotonic() < DEADLINE:
            count += 1
            predict = count % 2 == 0
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if predict:
                    connection.request("POST", "/predict", body=DIGIT_BODY, headers={"Content-Type": "application/json"})
                else:
                    connection.request("GET", "/model")
                response = connection.getresponse()
                body = response.read()
                if response.status != 200:
                    raise RuntimeError(f"status {response.status}: {body[:120]!r}")
                if predict and json.loads(body)["predicted_class"] != 1:
                    raise RuntimeError(f"wrong answer {body!r}")
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
                    connection = None
                error = None
            except Exception as exception:  # every failure is counted, none retried by the client
                error = f"{'POST /predict' if predict else 'GET /model'}: {type(exception).__name__}: {exception}"
                if connection is not None:
                    connection.close()
                connection = None
            with self.lock:
                self.sent += 1
                if error:
                    self.failures.append(error)

    def __enter__(self):
        for worker in self.workers:
            worker.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        for worker in self.workers:
            worker.join(timeout=60)

    def snapshot(self):
        with self.lock:
            return self.sent, list(self.failures)


def balancer_log_lines(log_path, since):
    with open(log_path) as log:
        lines = log.read().splitlines()[since:]
    return [line for line in lines if line.strip()]


def main():
    exit_on_sigterm()
    kind = ContainerReplica if IMAGE else ProcessReplica
    replicas = [kind(free_port(), number) for number in range(1, 4)]
    haproxy = None
    try:
        for replica in replicas:
            replica.start()
        lb_port = free_port()
        env = dict(os.environ, DIGITS_LB_BIND=f"127.0.0.1:{lb_port}",
                   **{f"DIGITS_REPLICA_{i + 1}": f"127.0.0.1:{r.port}" for i, r in enumerate(replicas)})
        log_path = "/tmp/digits-failover-haproxy.log"
        with open(log_path, "w") as log:
            haproxy = subprocess.Popen(["haproxy", "-db", "-f", "deploy/haproxy/haproxy.cfg"], env=env,
                                       stdout=log, stderr=subprocess.STDOUT)

        def balancer_serves():
            try:
                c = http.client.HTTPConnection("127.0.0.1", lb_port, timeout=2)
                c.request("GET", "/model")
                return c.getresponse().status == 200
            except OSError:
                return False
        wait_until(balancer_serves, "the balancer")
        time.sleep(1.5)  # every replica passes its first checks (rise 2 x 500 ms)

        print(f"replicas: {'containers of ' + IMAGE if IMAGE else 'processes of ' + DIGITS}")
        print("phase 1: rolling restart, each replica in turn: SIGTERM, drain, exit 0, replaced")
        with Load(lb_port) as load:
            time.sleep(1)
            for number, replica in enumerate(replicas, start=1):
                started = time.monotonic()
                status = replica.stop(signal.SIGTERM)
                drained = time.monotonic() - started
                replica.start()
                time.sleep(1.5)  # back in rotation (rise 2 x 500 ms) before the next one goes
                print(f"  replica{number}: exit status {status} after {drained:.1f} s of draining; replaced")
                assert status == 0, f"replica{number} exited with {status}"
            time.sleep(1)
        sent, failures = load.snapshot()
        print(f"  {sent} requests through the balancer, {len(failures)} failed")
        for failure in failures[:20]:
            print(f"    {failure}")
        rolling_failures = len(failures)

        print("phase 2: one replica killed with SIGKILL mid-load, then replaced")
        with open(log_path) as log:
            log_start = len(log.read().splitlines())
        with Load(lb_port) as load:
            time.sleep(2)
            replicas[1].stop(signal.SIGKILL)
            killed_at = load.snapshot()[0]
            time.sleep(2)
            replicas[1].start()
            time.sleep(2)
        sent, failures = load.snapshot()
        print(f"  {sent} requests through the balancer ({killed_at} before the kill), {len(failures)} failed")
        for failure in failures[:20]:
            print(f"    {failure}")
        print("  what the balancer logged meanwhile:")
        for line in balancer_log_lines(log_path, log_start)[:30]:
            print(f"    {line}")

        for number, replica in enumerate(replicas, start=1):
            resident, peak = memory(replica.pid())
            print(f"  replica{number} memory after the load: resident {resident / 2**20:.1f} MiB, "
                  f"peak {peak / 2**20:.1f} MiB")

        if rolling_failures:
            raise SystemExit(f"FAIL: the rolling restart lost {rolling_failures} requests")
        print(f"PASS: the rolling restart lost 0 requests; the SIGKILL lost {len(failures)}")
    finally:
        if haproxy:
            haproxy.terminate()
            haproxy.wait(timeout=30)
        for replica in replicas:
            replica.remove()


main()
