"""Pictures beside JSON in one run: POST /predict of digits with a 400-number JSON body, a 28x28 PNG, a
280x280 PNG and a 280x280 JPEG of the same test digit, beside FastAPI + uvicorn + Pillow + NumPy doing the
same (`peers/fastapi_app.py`: JSON at /predict, pictures at /predict/picture, 2 workers), both serving the
binary model, each driven with wrk on loopback.

    python3 Benchmarks/run.py --scenarios pictures [--duration 10] [--skip-build] [--rounds 1]

Needs wrk (a Debian package); installs the peer into Benchmarks/.venv-peers as run.py does.
"""
import os
import statistics
import tempfile

from run import TOP, bodies, build_release, peer_venv, start_beside_peer, wrk

PICTURES = "Tests/Fixtures/pictures"
BINARY = "data/models/binary/1/model.json"
# name, body file (None: the JSON body), media type
BODIES = [
    ("JSON, 400 numbers", None, "application/json"),
    ("PNG 28x28", "digit35-mnist28.png", "image/png"),
    ("PNG 280x280", "digit35-black-on-white280.png", "image/png"),
    ("JPEG 280x280", "digit35-quality75.jpg", "image/jpeg"),
]
CONNECTIONS = 16


def scripts(scratch):
    paths = {}
    for name, file, media_type in BODIES:
        if file is None:
            paths[name] = bodies(scratch)["predict"]
            continue
        path = os.path.abspath(os.path.join(TOP, PICTURES, file))
        lua = os.path.join(scratch, file + ".lua")
        with open(lua, "w") as script:
            script.write(f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "{media_type}"\n'
                         f'local f = io.open("{path}", "rb")\nwrk.body = f:read("*a")\nf:close()\n')
        paths[name] = (lua, os.path.getsize(path))
    return paths


def run(duration, skip_build, rounds):
    os.chdir(TOP)
    if not skip_build:
        build_release()
    venv = peer_venv()
    scratch = tempfile.mkdtemp(prefix="digits-pictures-")
    paths = scripts(scratch)
    processes, ports = start_beside_peer(scratch, venv, ["--model", BINARY], BINARY)
    try:
        runs = {}
        for _ in range(rounds):
            for name, file, _ in BODIES:
                for server in ["digits", "fastapi"]:
                    route = "/predict/picture" if server == "fastapi" and file else "/predict"
                    result = wrk(f"http://127.0.0.1:{ports[server]}{route}", CONNECTIONS, duration, paths[name][0])
                    assert result["errors"] == 0, (server, name, result)
                    runs.setdefault((name, server), []).append(result)
                    print(f"  {name:20} {server:8} {result['rps']:>9.0f} req/s  p99 {result['p99']:.3f} ms", flush=True)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
    print()
    print(f"POST /predict, binary model, {CONNECTIONS} connections, {duration} s per row, median of {rounds} "
          f"round(s), {os.cpu_count()} cores, one wrk thread.")
    print()
    print("| body | bytes | digits req/s | p99 ms | FastAPI + Pillow req/s | p99 ms | digits/FastAPI |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    medians = {}
    for name, _, _ in BODIES:
        for server in ["digits", "fastapi"]:
            results = runs[(name, server)]
            medians[(name, server)] = {k: statistics.median(r[k] for r in results) for k in ("rps", "p99")}
        d, f = medians[(name, "digits")], medians[(name, "fastapi")]
        print(f"| {name} | {paths[name][1]:,} | {d['rps']:,.0f} | {d['p99']:.3f} | {f['rps']:,.0f} | "
              f"{f['p99']:.3f} | {d['rps'] / f['rps']:.1f} |")
    print()
    json_rps = medians[(BODIES[0][0], "digits")]["rps"]
    for name, _, _ in BODIES[1:]:
        print(f"- {name}: {medians[(name, 'digits')]['rps'] / json_rps:.2f} of digits' JSON throughput")
