"""The benchmark: digits side by side with the HTTP ceiling (nginx answering a constant) and the Python
peer (FastAPI + uvicorn + NumPy, 2 workers, the same weights), measured with wrk on loopback in one run.

    python3 Benchmarks/run.py [--duration 10] [--model data/models/binary/1/model.json] [--skip-build]

It builds the release binary as the Dockerfile does, installs the peer into Benchmarks/.venv-peers
(created here), and prints a markdown table with requests/s, images/s, p50 and p99 and the ratios, then
start-up time and resident memory (idle, under 256 connections, and over 1,000,000 requests).
Needs wrk and nginx (Debian packages).
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import socket
import subprocess
import sys
import tempfile
import time

import array
import ast

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
DIGITS = os.path.join(TOP, ".build/release/digits")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_for_port(port, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def number(value):
    """A test pixel as a client with float32 data sends it: at most 7 significant digits, 0 as 0."""
    return "0" if value == 0 else ("1" if value == 1 else "%.7g" % value)


def load_images():
    """The test digits from their .npy file (<f4, C order), without NumPy."""
    with open(os.path.join(TOP, "data/digits-test-X.npy"), "rb") as file:
        data = file.read()
    header_length = int.from_bytes(data[8:10], "little")
    header = ast.literal_eval(data[10:10 + header_length].decode("latin1"))
    assert header["descr"] == "<f4" and not header["fortran_order"], header
    values = array.array("f", data[10 + header_length:])
    count, width = header["shape"]
    return [values[i * width:(i + 1) * width] for i in range(count)]


def bodies(scratch):
    images = load_images()
    def image(i):
        return "[" + ",".join(number(v) for v in images[i % len(images)]) + "]"
    files = {
        "predict": '{"pixels":' + image(0) + "}",
        "batch32": '{"images":[' + ",".join(image(i) for i in range(32)) + "]}",
        "batch1000": '{"images":[' + ",".join(image(i) for i in range(1000)) + "]}",
    }
    paths = {}
    for name, text in files.items():
        body = os.path.join(scratch, name + ".json")
        with open(body, "w") as file:
            file.write(text)
        lua = os.path.join(scratch, name + ".lua")
        with open(lua, "w") as file:
            file.write(f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                       f'local f = io.open("{body}", "rb")\nwrk.body = f:read("*a")\nf:close()\n')
        paths[name] = (lua, len(text))
    return paths


def wrk(url, connections, duration, script=None):
    # One wrk thread: wrk then takes one of the two cores, as in the figures the issue quotes.
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if script:
        command += ["-s", script]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    def latency(percent):
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return value * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": latency(50), "p99": latency(99),
        "errors": (int(errors.group(1)) if errors else 0),
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def peer_venv():
    """Benchmarks/.venv-peers with the FastAPI peer's requirements, created when missing."""
    venv = os.path.join(HERE, ".venv-peers")
    if not os.path.exists(os.path.join(venv, "bin", "uvicorn")):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "-r",
                        os.path.join(HERE, "peers", "requirements.txt")], check=True)
    return venv


def build_release():
    """The release binary, built as the Dockerfile builds it."""
    subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--product", "digits"], check=True)


def start_beside_peer(scratch, venv, digits_arguments, peer_model):
    """digits serve with `digits_arguments` and the FastAPI peer (2 uvicorn workers) serving `peer_model`,
    both ready for requests: their processes, and their ports by "digits" and "fastapi"."""
    ports = {"digits": free_port(), "fastapi": free_port()}
    log = open(os.path.join(scratch, "digits.log"), "w+")
    processes = [subprocess.Popen([DIGITS, "serve", "--host", "127.0.0.1", "--port", str(ports["digits"]),
                                   *digits_arguments], stdout=log, stderr=subprocess.STDOUT)]
    processes.append(subprocess.Popen(
        [os.path.join(venv, "bin", "uvicorn"), "--app-dir", os.path.join(HERE, "peers"), "fastapi_app:app",
         "--host", "127.0.0.1", "--port", str(ports["fastapi"]), "--workers", "2", "--log-level", "warning",
         "--no-access-log"],
        # One BLAS thread per worker: two workers with a thread per core each fight over the two cores
        # (measured: 66 requests/s for the CNN's POST /predict instead of the figure in the README).
        env=dict(os.environ, DIGITS_MODEL=peer_model, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                 MKL_NUM_THREADS="1")))
    for port in ports.values():
        wait_for_port(port)
    while "ready on" not in open(log.name).read():
        time.sleep(0.05)
    time.sleep(2)
    return processes, ports


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


SCENARIOS = [
    # name, path, connections, body, images per request
    ("POST /predict, 1 connection", "/predict", 1, "predict", 1),
    ("POST /predict, 16 connections", "/predict", 16, "predict", 1),
    ("POST /predict, 64 connections", "/predict", 64, "predict", 1),
    ("POST /predict/batch, 32 digits, 16 connections", "/predict/batch", 16, "batch32", 32),
    ("POST /predict/batch, 1,000 digits, 4 connections", "/predict/batch", 4, "batch1000", 1000),
    ("GET /model, 16 connections", "/model", 16, None, 0),
]

PREDICT_SCENARIOS = ["POST /predict, 16 connections", "POST /predict, 64 connections"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--model", default="data/models/binary/1/model.json")
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--only-digits", action="store_true", help="measure digits alone (while optimising)")
    parser.add_argument("--digits", default=DIGITS, help="the digits binary to measure (another build, to compare)")
    parser.add_argument("--log-level", default="info", help="digits' log level; info, the default, logs every request")
    parser.add_argument("--event-loops", type=int, help="digits' --event-loops (default: one per core)")
    parser.add_argument("--scenarios", default="all", choices=["all", "predict", "models", "pictures"],
                        help="predict: POST /predict at 16 and 64 connections only, beside nginx; models: the "
                             "ten-class MLP, CNN and int8 CNN beside FastAPI serving the CNN (Benchmarks/models.py); "
                             "pictures: POST /predict with PNG and JPEG bodies beside JSON, and beside FastAPI + "
                             "Pillow (Benchmarks/pictures.py)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the scenarios this many times, alternating servers; the table gives medians")
    parser.add_argument("--skip-memory", action="store_true", help="leave out the memory runs")
    args = parser.parse_args()
    if args.scenarios == "models":
        import models
        return models.run(args.duration, args.skip_build, args.rounds)
    if args.scenarios == "pictures":
        import pictures
        return pictures.run(args.duration, args.skip_build, args.rounds)
    os.chdir(TOP)
    for tool in ["wrk", "nginx"]:
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: apt-get install {tool}")
    if not args.skip_build:
        build_release()

    venv = peer_venv() if not args.only_digits and args.scenarios == "all" else os.path.join(HERE, ".venv-peers")

    scratch = tempfile.mkdtemp(prefix="digits-bench-")
    scripts = bodies(scratch)
    processes = []
    results = {}
    extra = {}
    try:
        # digits: start-up time is from spawning the process to its ready line.
        port = free_port()
        started = time.monotonic()
        command = [args.digits, "serve", "--host", "127.0.0.1", "--port", str(port), "--model", args.model,
                   "--log-level", args.log_level]
        if args.event_loops:
            command += ["--event-loops", str(args.event_loops)]
        # The access log goes to a file, as a container runtime collects it, not to a pipe nobody reads.
        log = open(os.path.join(scratch, "digits.log"), "w+")
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
        processes.append(server)
        # The ready line is a notice: above that level there is none, and the open port says it instead.
        quiet = args.log_level in ("warning", "error", "critical")
        while not (port_open(port) if quiet else "ready on" in open(log.name).read()):
            if server.poll() is not None:
                raise SystemExit(f"digits exited: {open(log.name).read()}")
            time.sleep(0.005)
        extra["ready_ms"] = (time.monotonic() - started) * 1000
        time.sleep(0.5)
        extra["idle_kb"] = rss_kb(server.pid)[0]
        servers = {"digits": port}

        with_fastapi = not args.only_digits and args.scenarios == "all"
        if not args.only_digits:
            nginx_port = free_port()
            nginx_dir = os.path.join(scratch, "nginx")
            os.makedirs(nginx_dir)
            with open(os.path.join(HERE, "nginx.conf")) as file:
                config = file.read().replace("__PORT__", str(nginx_port))
            with open(os.path.join(nginx_dir, "nginx.conf"), "w") as file:
                file.write(config)
            processes.append(subprocess.Popen(["nginx", "-c", os.path.join(nginx_dir, "nginx.conf"), "-p", nginx_dir,
                                               "-g", "daemon off;"]))
            wait_for_port(nginx_port)
            servers["nginx"] = nginx_port
        if with_fastapi:
            fastapi_port = free_port()
            processes.append(subprocess.Popen(
                [os.path.join(venv, "bin", "uvicorn"), "--app-dir", os.path.join(HERE, "peers"), "fastapi_app:app",
                 "--host", "127.0.0.1", "--port", str(fastapi_port), "--workers", "2", "--log-level", "warning",
                 "--no-access-log"], env=dict(os.environ, DIGITS_MODEL=args.model)))
            wait_for_port(fastapi_port)
            time.sleep(2)
            servers["fastapi"] = fastapi_port

        scenarios = SCENARIOS if args.scenarios == "all" else [s for s in SCENARIOS if s[0] in PREDICT_SCENARIOS]
        rounds = {}
        for round_number in range(args.rounds):
            for name, path, connections, body, images in scenarios:
                for server_name, server_port in servers.items():
                    if server_name == "nginx" and images > 1:
                        continue  # a constant answer to a batch means nothing
                    script = scripts[body][0] if body else None
                    result = wrk(f"http://127.0.0.1:{server_port}{path}", connections, args.duration, script)
                    result["images"] = result["rps"] * images
                    rounds.setdefault((name, server_name), []).append(result)
                    print(f"  {name:52} {server_name:8} {result['rps']:>10.0f} req/s  p50 {result['p50']:.3f} ms  "
                          f"p99 {result['p99']:.3f} ms  errors {result['errors']} {result['socket_errors']}",
                          flush=True)
        # Each figure is the median of its rounds: on a shared 2-core machine one row can be off by 2x.
        for key, runs in rounds.items():
            results[key] = {field: (statistics.median(run[field] for run in runs) if field not in
                                    ("errors", "socket_errors") else runs[-1][field]) for field in runs[0]}
            results[key]["errors"] = sum(run["errors"] for run in runs)
        if args.rounds > 1:
            for name, _, _, _, _ in scenarios:
                d, n = rounds.get((name, "digits")), rounds.get((name, "nginx"))
                if d and n:
                    ratios = ", ".join(f"{a['p99'] / b['p99']:.2f}" for a, b in zip(d, n))
                    print(f"  {name}: p99 ratio to nginx's per round: {ratios}")

        if args.skip_memory or args.scenarios != "all":
            return report(results, extra, args)
        # Memory under 256 connections, then over 1,000,000 requests.
        wrk(f"http://127.0.0.1:{port}/predict", 256, 5, scripts["predict"][0])
        extra["peak_256_kb"] = rss_kb(server.pid)[1]
        before = rss_kb(server.pid)[0]
        # Ten-second runs until a million requests have been answered, sampling memory every second. (A Lua
        # counter that stops wrk's thread would not do: wrk's main thread still sleeps for the whole -d.)
        samples = []
        answered = 0
        while answered < 1_000_000:
            runner = subprocess.Popen(["wrk", "-t1", "-c16", "-d10s", "-s", scripts["predict"][0],
                                       f"http://127.0.0.1:{port}/predict"], stdout=subprocess.PIPE, text=True)
            while runner.poll() is None:
                time.sleep(1)
                samples.append(rss_kb(server.pid)[0])
            total = re.search(r"(\d+) requests in", runner.stdout.read())
            if not total or int(total.group(1)) == 0:
                sys.exit("wrk answered no requests in the million-request run")
            answered += int(total.group(1))
        extra["million_requests"] = answered
        extra["million_before_kb"] = before
        extra["million_after_kb"] = rss_kb(server.pid)[0]
        extra["million_samples"] = samples
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(scratch, ignore_errors=True)
    report(results, extra, args)


def report(results, extra, args):
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print()
    print(f"Run of {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores "
          f"({cpu}), {platform.system()} {platform.release()}; wrk on loopback, {args.duration} s per row, "
          f"median of {args.rounds} round(s); model "
          f"{os.path.relpath(args.model, os.path.join(TOP, 'data/models')) if not os.path.isabs(args.model) else args.model}.")
    print()
    print("| scenario | digits req/s | digits images/s | p50 ms | p99 ms | nginx req/s | p99 ms | digits/nginx | "
          "FastAPI req/s | images/s | p99 ms | digits/FastAPI |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, _, _, _, images in SCENARIOS:
        d = results.get((name, "digits"))
        n = results.get((name, "nginx"))
        f = results.get((name, "fastapi"))
        def cell(result, key, digits=0):
            return "—" if result is None else f"{result[key]:,.{digits}f}"
        ratio_n = f"{d['rps'] / n['rps']:.2f}" if d and n else "—"
        ratio_f = f"{d['rps'] / f['rps']:.1f}" if d and f else "—"
        print(f"| {name} | {cell(d, 'rps')} | {cell(d, 'images') if images else '—'} | {cell(d, 'p50', 3)} | "
              f"{cell(d, 'p99', 3)} | {cell(n, 'rps')} | {cell(n, 'p99', 3)} | {ratio_n} | {cell(f, 'rps')} | "
              f"{cell(f, 'images') if images else '—'} | {cell(f, 'p99', 3)} | {ratio_f} |")
    samples = extra.get("million_samples", [])
    print()
    for name, _, _, _, _ in SCENARIOS:
        d, n = results.get((name, "digits")), results.get((name, "nginx"))
        if d and n:
            print(f"- {name}: p99 {d['p99'] / n['p99']:.2f} times nginx's")
    print(f"- digits {args.digits}, log level {args.log_level}, event loops {args.event_loops or 'one per core'}")
    print(f"- start-up, process spawn to ready line: {extra['ready_ms']:.0f} ms")
    if "million_requests" not in extra:
        return
    print(f"- resident memory idle: {extra['idle_kb'] / 1024:.1f} MB; peak under 256 connections: "
          f"{extra['peak_256_kb'] / 1024:.1f} MB")
    print(f"- over {extra['million_requests']:,} requests: resident {extra['million_before_kb'] / 1024:.1f} MB before, "
          f"{extra['million_after_kb'] / 1024:.1f} MB after; per-second samples from "
          f"{min(samples) / 1024 if samples else 0:.1f} to {max(samples) / 1024 if samples else 0:.1f} MB")


if __name__ == "__main__":
    main()
