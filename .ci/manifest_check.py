"""The Kubernetes Deployment (deploy/kubernetes/deployment.yaml) says what the image does: its image, user,
port and HEALTHCHECK are the image's, and a container of the image run as the pod spec runs it (its user,
read-only root, no capabilities, no privilege escalation, its environment, its CPU and memory limits)

  - passes the startup probe within the startup probe's budget, then the readiness and liveness probes;
  - while draining after SIGTERM fails the readiness probe and passes the liveness probe (a draining
    process is alive: a liveness failure would restart it and lose its in-flight requests);
  - stops within terminationGracePeriodSeconds, with status 0;
  - stays under its memory request when idle, and answers a maximal batch for the CNN (10,000 images,
    the default --max-batch, in a body of 60 MB, just under the default --max-body-bytes of 64 MiB) under
    its memory limit, with room for a second one at once.

Usage: python3 .ci/manifest_check.py localhost/digits:latest     (from the top folder, as root; bounded)
"""
import http.client
import json
import sys
import time

import yaml

from digits_process import exit_on_sigterm, free_port, memory, podman

IMAGE = sys.argv[1]
NAME = "digits-manifest-check"
failures = []


def check(condition, message):
    print(f"  {'ok' if condition else 'FAIL'}: {message}")
    if not condition:
        failures.append(message)


def quantity(text):
    """A Kubernetes quantity (512Mi, 250m, 2) as a number of bytes or cores."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "m": 1e-3}
    for unit, factor in units.items():
        if str(text).endswith(unit):
            return float(str(text)[: -len(unit)]) * factor
    return float(text)


def get(port, path, timeout=5):
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0


def main():
    exit_on_sigterm()
    deployment = yaml.safe_load(open("deploy/kubernetes/deployment.yaml"))
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    pod_security, security = pod["securityContext"], container["securityContext"]
    inspected = json.loads(podman("image", "inspect", IMAGE).stdout)[0]
    image = dict(inspected["Config"], Healthcheck=inspected["Healthcheck"])

    print(f"the Deployment against {IMAGE}")
    check(podman("image", "exists", container["image"]).returncode == 0 and
          podman("image", "inspect", container["image"], "--format", "{{.Id}}").stdout ==
          podman("image", "inspect", IMAGE, "--format", "{{.Id}}").stdout,
          f"image {container['image']} is the image built")
    user = f"{pod_security['runAsUser']}:{pod_security['runAsGroup']}"
    check(image["User"] == user and pod_security["runAsNonRoot"], f"runs as {user}, the image's USER")
    (port_spec,) = container["ports"]
    ports = {port_spec["name"]: port_spec["containerPort"]}
    check(f"{port_spec['containerPort']}/tcp" in image["ExposedPorts"] and
          f"DIGITS_PORT={port_spec['containerPort']}" in image["Env"],
          f"containerPort {port_spec['containerPort']} is the port the image listens on and exposes")
    probes = {kind: container[f"{kind}Probe"] for kind in ("startup", "readiness", "liveness")}
    check(image["Healthcheck"]["Test"] == ["CMD", "digits", "healthcheck"] and
          probes["readiness"]["httpGet"]["path"] == "/model",
          "the readiness probe asks what the image's HEALTHCHECK asks (digits healthcheck: GET /model)")
    environment = {item["name"]: item["value"] for item in container["env"]}
    drain, grace = float(environment["DIGITS_DRAIN_DELAY"]), float(environment["DIGITS_GRACE_PERIOD"])
    check(pod["terminationGracePeriodSeconds"] >= drain + grace + 5,
          f"terminationGracePeriodSeconds ({pod['terminationGracePeriodSeconds']}) covers the drain delay ({drain:g}) "
          f"and grace period ({grace:g}) with 5 s to spare")

    limits, requests = container["resources"]["limits"], container["resources"]["requests"]
    host_port = free_port()
    run = ["run", "-d", "--name", NAME, "--user", user, "--memory", str(int(quantity(limits["memory"]))),
           "--cpus", str(quantity(limits["cpu"])), "-p", f"127.0.0.1:{host_port}:{port_spec['containerPort']}"]
    if security["readOnlyRootFilesystem"]:
        # As Kubernetes does it: without the writable /tmp, /run and /var/tmp podman adds by default.
        run += ["--read-only", "--read-only-tmpfs=false"]
    if security["capabilities"]["drop"] == ["ALL"]:
        run.append("--cap-drop=ALL")
    if not security["allowPrivilegeEscalation"]:
        run += ["--security-opt", "no-new-privileges"]
    for name, value in environment.items():
        run += ["-e", f"{name}={value}"]
    podman("rm", "-f", NAME)
    started = time.monotonic()
    check(podman(*run, IMAGE).returncode == 0, "podman " + " ".join(run[:-2 * len(environment)]) + " ... starts")
    try:
        def probe(kind):
            spec = probes[kind]["httpGet"]
            assert ports[spec["port"]] == port_spec["containerPort"], spec
            return get(host_port, spec["path"], timeout=probes[kind].get("timeoutSeconds", 1))

        startup = probes["startup"]
        budget = startup["periodSeconds"] * startup["failureThreshold"]
        while probe("startup") != 200 and time.monotonic() - started < budget:
            time.sleep(startup["periodSeconds"])
        took = time.monotonic() - started
        check(probe("startup") == 200, f"the startup probe passes after {took:.1f} s (its budget: {budget} s)")
        check(probe("readiness") == 200 and probe("liveness") == 200, "then the readiness and liveness probes pass")

        pid = int(podman("inspect", NAME, "--format", "{{.State.Pid}}").stdout)
        idle = memory(pid)[0]
        check(idle < quantity(requests["memory"]),
              f"idle: {idle / 2**20:.1f} MiB resident, under the memory request ({requests['memory']})")
        image = "[" + ",".join(["0.123456789012"] * 400) + "]"
        batch = ('{"images":[' + ",".join([image] * 10000) + "]}").encode()
        connection = http.client.HTTPConnection("127.0.0.1", host_port, timeout=120)
        connection.request("POST", "/models/ten-class/predict/batch", body=batch,
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        answered = len(json.loads(response.read()).get("predictions", []))
        peak = memory(pid)[1]
        check(response.status == 200 and answered == 10000,
              f"a maximal batch for the CNN (10,000 images, {len(batch) / 1e6:.0f} MB) answered under the limit: "
              f"HTTP {response.status}, {answered} predictions")
        check(2 * (peak - idle) + idle < quantity(limits["memory"]),
              f"its peak, {peak / 2**20:.0f} MiB resident, leaves room for a second one under the memory limit "
              f"({limits['memory']})")

        podman("kill", "--signal", "TERM", NAME)
        signalled = time.monotonic()
        time.sleep(min(2, drain / 2))
        draining = (probe("readiness"), probe("liveness"))
        check(draining[0] == 503 and draining[1] == 200,
              f"while draining: readiness {draining[0]} (503: out of the Service), liveness {draining[1]} "
              f"(200: alive, not restarted)")
        healthcheck = podman("healthcheck", "run", NAME).returncode
        check(healthcheck == 1, f"while draining the image's HEALTHCHECK fails too: exit {healthcheck}")
        status = int(podman("wait", NAME, timeout=pod["terminationGracePeriodSeconds"] + 30).stdout.strip())
        stopped = time.monotonic() - signalled
        check(status == 0 and stopped <= pod["terminationGracePeriodSeconds"],
              f"exit status {status} {stopped:.1f} s after SIGTERM, within terminationGracePeriodSeconds")
    finally:
        podman("rm", "-f", NAME)
    if failures:
        raise SystemExit(f"FAIL: the Deployment and the image disagree: {failures}")
    print("PASS: the Deployment says what the image does")


main()
