"""The models side by side in one run: the ten-class MLP (version 1), the CNN (version 2) and its int8
copy served by one digits process from the bundled repository, beside FastAPI + uvicorn + NumPy serving the
same CNN (`peers/fastapi_app.py`, im2col in NumPy, 2 workers), each driven with wrk on loopback.

    python3 Benchmarks/run.py --scenarios models [--duration 10] [--skip-build] [--rounds 1]

Needs wrk (a Debian package); installs the peer into Benchmarks/.venv-peers as run.py does.
"""
import os
import statistics
import tempfile

from run import TOP, bodies, build_release, peer_venv, start_beside_peer, wrk

SCENARIOS = [
    # name, body, connections, images per request
    ("POST /predict, 16 connections", "predict", 16, 1),
    ("POST /predict/batch, 1,000 digits, 4 connections", "batch1000", 4, 1000),
]
# Server name, base URL path (the route then ends in /predict or /predict/batch).
TARGETS = [
    ("MLP (ten-class v1)", "digits", "/models/ten-class/versions/1"),
    ("CNN (ten-class v2)", "digits", "/models/ten-class/versions/2"),
    ("CNN int8 (ten-class-int8)", "digits", "/models/ten-class-int8"),
    ("FastAPI + NumPy, the same CNN", "fastapi", ""),
]


def run(duration, skip_build, rounds):
    os.chdir(TOP)
    if not skip_build:
        build_release()
    venv = peer_venv()
    scratch = tempfile.mkdtemp(prefix="digits-models-")
    scripts = bodies(scratch)
    processes, ports = start_beside_peer(scratch, venv, [], "data/models/ten-class/2/model.json")
    try:
        runs = {}
        for _ in range(rounds):
            for scenario, body, connections, images in SCENARIOS:
                route = "/predict" if images == 1 else "/predict/batch"
                for target, server, base in TARGETS:
                    result = wrk(f"http://127.0.0.1:{ports[server]}{base}{route}", connections, duration,
                                 scripts[body][0])
                    assert result["errors"] == 0, (target, scenario, result)
                    result["images"] = result["rps"] * images
                    runs.setdefault((scenario, target), []).append(result)
                    print(f"  {scenario:50} {target:30} {result['rps']:>9.0f} req/s  p99 {result['p99']:.3f} ms",
                          flush=True)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
    print()
    print(f"{duration} s per row, median of {rounds} round(s), {os.cpu_count()} cores, one wrk thread.")
    print()
    print("| scenario | model | req/s | images/s | p50 ms | p99 ms |")
    print("|---|---|---:|---:|---:|---:|")
    medians = {}
    for scenario, _, _, _ in SCENARIOS:
        for target, _, _ in TARGETS:
            results = runs[(scenario, target)]
            median = {key: statistics.median(r[key] for r in results) for key in ("rps", "images", "p50", "p99")}
            medians[(scenario, target)] = median
            print(f"| {scenario} | {target} | {median['rps']:,.0f} | {median['images']:,.0f} | "
                  f"{median['p50']:.3f} | {median['p99']:.3f} |")
    print()
    for scenario, _, _, _ in SCENARIOS:
        cnn, mlp = medians[(scenario, TARGETS[1][0])], medians[(scenario, TARGETS[0][0])]
        int8, peer = medians[(scenario, TARGETS[2][0])], medians[(scenario, TARGETS[3][0])]
        print(f"- {scenario}: CNN {cnn['images'] / peer['images']:.1f} times the FastAPI peer's images/s; "
              f"CNN/MLP {cnn['images'] / mlp['images']:.2f}; int8/Float32 {int8['images'] / cnn['images']:.2f}")


