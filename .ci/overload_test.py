"""Overload under a real memory limit: `digits serve` in a cgroup v1 memory group of 256 MiB, 64 clients
sending 10,000-image batches to the CNN over and over for 30 s, and wrk on POST /predict meanwhile.

Passes when the process is never killed, every batch gets 200 or 503 with Retry-After, no client sees a
socket error, POST /predict's p99 under the storm stays within 3x of its p99 without it (same run), and
the resident size after the storm is back within 20 MB of its idle size.

  python3 .ci/overload_test.py path/to/digits            the test (as root; skips where no group can be made)
  python3 .ci/overload_test.py path/to/digits --control  the same storm with --memory-budget off: the kernel
                                                         kills the process, which shows the test can fail

The batch clients send `Expect: 100-continue`, as curl does for large bodies, so a refused batch costs its
client a head, not 20 MB. Bounded in time: about 90 s.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from digits_process import exit_on_sigterm, memory

DIGITS = sys.argv[1]
CONTROL = "--control" in sys.argv
LIMIT = 256 * 2**20
CLIENTS = 64
STORM_SECONDS = 30
GROUP = f"/sys/fs/cgroup/memory/digits-overload-{os.getpid()}"


def make_group():
    """The memory group, or None (with the reason printed) where it cannot be made."""
    try:
        os.mkdir(GROUP)
        with open(f"{GROUP}/memory.limit_in_bytes", "w") as limit:
            limit.write(str(LIMIT))
        if os.path.exists(f"{GROUP}/memory.memsw.limit_in_bytes"):  # no swapping past the limit either
            with open(f"{GROUP}/memory.memsw.limit_in_bytes", "w") as limit:
                limit.write(str(LIMIT))
        return GROUP
    except OSError as error:
        print(f"SKIP: cannot make a cgroup v1 memory group at {GROUP}: {error}")
        return None


def read(name):
    with open(f"{GROUP}/{name}") as file:
        return file.read().strip()


def start_server():
    """`digits serve` in the group from its first instruction (the shell joins the group, then execs)."""
    budget = ["--memory-budget", "off"] if CONTROL else []
    command = (f"echo $$ > {GROUP}/cgroup.procs && exec {DIGITS} serve --host 127.0.0.1 --port 0 "
               f"--log-level notice {' '.join(budget)}")
    process = subprocess.Popen(["sh", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:
        lines.append(line.strip())
        found = re.search(r"ready on http://[^ ]*:(\d+) ", line)
        if found:
            threading.Thread(target=process.stdout.read, daemon=True).start()
            print("  " + next((l.split("] ", 1)[1] for l in lines if "memory budget" in l), "(no budget line)"))
            return process, int(found.group(1))
    raise SystemExit(f"digits serve did not start: {lines[-3:]}")


def batch_body():
    image = "[" + ",".join(["0.5"] * 400) + "]"
    return ('{"images":[' + ",".join([image] * 10000) + "]}").encode()


class Storm:
    """CLIENTS threads, each sending the batch over and over on a fresh connection, with Expect."""

    def __init__(self, port, body):
        self.port, self.body = port, body
        self.lock = threading.Lock()
        self.statuses = {}
        self.errors = []
        self.missing_retry_after = 0
        self.end = 0

    def one(self):
        head = (f"POST /models/ten-class/predict/batch HTTP/1.1\r\nHost: digits\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(self.body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", self.port), timeout=120) as connection:
            connection.sendall(head)
            reader = connection.makefile("rb")
            status_line = reader.readline()
            if b" 100 " in status_line:
                reader.readline()  # the blank line after 100 Continue
                connection.sendall(self.body)
                status_line = reader.readline()
            status = int(status_line.split()[1])
            headers = {}
            while (line := reader.readline().strip()):
                name, _, value = line.decode().partition(":")
                headers[name.lower()] = value.strip()
            reader.read(int(headers.get("content-length", "0")))
            return status, headers

    def work(self):
        while time.monotonic() < self.end:
            try:
                status, headers = self.one()
                with self.lock:
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    if status == 503 and "retry-after" not in headers:
                        self.missing_retry_after += 1
                if status == 503:
                    time.sleep(float(headers.get("retry-after", "1")) / 4)  # an impatient client
            except (OSError, ValueError, IndexError) as error:
                with self.lock:
                    self.errors.append(f"{type(error).__name__}: {error}")
                time.sleep(0.5)

    def run(self, seconds):
        self.end = time.monotonic() + seconds
        threads = [threading.Thread(target=self.work) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        return threads


def wrk_p99(port, seconds):
    """POST /predict with wrk (8 connections) for `seconds`; returns (p99 in ms, requests/s, non-2xx, errors)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        body = open("data/examples/one.json").read().replace("\\", "\\\\").replace('"', '\\"').replace("\n", "")
        script.write(f'wrk.method = "POST"\nwrk.body = "{body}"\nwrk.headers["Content-Type"] = "application/json"\n')
    output = subprocess.run(["wrk", "-t1", "-c8", f"-d{seconds}s", "--latency", "-s", script.name,
                             f"http://127.0.0.1:{port}/predict"], capture_output=True, text=True).stdout
    os.unlink(script.name)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", output)
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    non2xx = int((re.search(r"Non-2xx or 3xx responses: (\d+)", output) or [0, 0])[1])
    errors = re.search(r"Socket errors: (.*)", output)
    return float(p99.group(1)) * scale, rate, non2xx, errors.group(1) if errors else "none"


def main():
    exit_on_sigterm()
    if not make_group():
        return
    process = None
    try:
        print(f"{'CONTROL: --memory-budget off' if CONTROL else 'the budget on'}; a cgroup v1 memory group of "
              f"{LIMIT >> 20} MiB ({GROUP})")
        process, port = start_server()
        time.sleep(1)
        idle = memory(process.pid)[0]
        baseline = wrk_p99(port, 8)
        print(f"  idle: {idle / 2**20:.1f} MiB resident; POST /predict alone: p99 {baseline[0]:.2f} ms, "
              f"{baseline[1]:.0f} requests/s")
        storm = Storm(port, batch_body())
        threads = storm.run(STORM_SECONDS)
        during = wrk_p99(port, STORM_SECONDS - 4)
        peak_rss = 0
        for thread in threads:
            while thread.is_alive() and process.poll() is None:
                thread.join(timeout=0.5)
                if process.poll() is None:
                    peak_rss = max(peak_rss, memory(process.pid)[1])
            thread.join(timeout=130)
        killed = process.poll()
        print(f"  the storm: {CLIENTS} clients, {sum(storm.statuses.values())} batch answers {storm.statuses}, "
              f"{len(storm.errors)} socket errors, {storm.missing_retry_after} 503s without Retry-After")
        for error in sorted(set(storm.errors))[:5]:
            print(f"    {error}")
        print(f"  POST /predict during it: p99 {during[0]:.2f} ms ({during[0] / baseline[0]:.1f}x), {during[1]:.0f} "
              f"requests/s, {during[2]} non-2xx, socket errors: {during[3]}")
        print(f"  the group: memory.failcnt {read('memory.failcnt')}, max usage "
              f"{int(read('memory.max_usage_in_bytes')) / 2**20:.0f} MiB; {read('memory.oom_control').splitlines()[-1]}")
        if killed is not None:
            print(f"  the server was killed: exit status {killed} (SIGKILL is -9)")
            if CONTROL:
                print("PASS (control): without the budget the kernel kills the server under this storm")
                return
            raise SystemExit("FAIL: the server was killed under the storm")
        if CONTROL:
            raise SystemExit("FAIL (control): the server survived without the budget; the storm proves nothing")
        time.sleep(3)
        after = memory(process.pid)[0]
        print(f"  resident: idle {idle / 2**20:.1f} MiB, peak {peak_rss / 2**20:.1f} MiB, after {after / 2**20:.1f} MiB")
        problems = []
        if set(storm.statuses) - {200, 503} or storm.missing_retry_after:
            problems.append(f"batch answers other than 200 and 503 with Retry-After: {storm.statuses}")
        if storm.errors or during[3] != "none" or during[2]:
            problems.append("socket errors or failed requests")
        if during[0] > 3 * baseline[0]:
            problems.append(f"POST /predict's p99 went from {baseline[0]:.2f} to {during[0]:.2f} ms (over 3x)")
        if after - idle > 20 * 2**20:
            problems.append(f"resident {(after - idle) / 2**20:.0f} MiB above idle after the storm (over 20)")
        if storm.statuses.get(200, 0) == 0:
            problems.append("no batch was answered")
        if problems:
            raise SystemExit("FAIL: " + "; ".join(problems))
        print("PASS: never killed, every batch 200 or 503 with Retry-After, no socket errors, /predict's p99 "
              "within 3x, memory given back")
    finally:
        if process and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
        for _ in range(50):
            try:
                os.rmdir(GROUP)
                break
            except OSError:
                time.sleep(0.1)


main()
