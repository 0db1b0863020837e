"""What the CI scripts share: starting `digits serve` on a free loopback port, waiting for a condition, and
running podman."""
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time


def start_digits(digits, *arguments):
    """Starts `digits serve` on 127.0.0.1, port 0 (the kernel picks a free one, so there is no race), and
    returns (process, port) once its ready line names the port."""
    process = subprocess.Popen([digits, "serve", "--host", "127.0.0.1", "--port", "0", "--log-level", "notice",
                                *arguments], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in process.stdout:
        found = re.search(r"ready on http://[^ ]*:(\d+) ", line)
        if found:
            # Keep reading its output so that the pipe never fills and blocks the server.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, int(found.group(1))
    raise SystemExit(f"digits serve {' '.join(arguments)} did not start (exit status {process.wait()})")


def wait_until(condition, what, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def bundled_model(name):
    """The file of a bundled model's highest version (ten-class: the CNN, version 2)."""
    folder = os.path.join("data", "models", name)
    version = max(int(entry) for entry in os.listdir(folder) if entry.isdigit())
    return os.path.join(folder, str(version), "model.json")


def free_port():
    """A loopback port free now (for a program that must be told its port rather than pick one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory(pid):
    """(resident, peak resident) of a process in bytes, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return tuple(int(fields[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM"))


def exit_on_sigterm():
    """Turns SIGTERM (what `timeout` sends) into SystemExit, so that `finally` blocks run and remove the
    containers and processes a test started."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))


def podman(*arguments, timeout=120):
    """Runs podman with the settings this kind of machine needs (deploy/podman/containers.conf) and returns
    the completed process, its stdout as text. stderr is dropped: podman 4.3 prints errors there about
    systemd timers that this machine lacks, even when the command succeeds."""
    environment = dict(os.environ, CONTAINERS_CONF=os.path.abspath("deploy/podman/containers.conf"))
    return subprocess.run(["podman", *arguments], env=environment, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True, timeout=timeout)
