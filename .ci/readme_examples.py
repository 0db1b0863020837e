"""Runs every curl example in README.md against a live server and compares each answer with the JSON
shown under it: the same keys at every level, and the same error codes, classes and statuses. Numbers
may differ in their last digits; shape and meaning may not.

Then runs every `digits predict` example with the built executable and compares its output with the
block under it, line for line.

Usage: python3 .ci/readme_examples.py BASE_URL DIGITS   (BASE_URL replaces localhost:8080 in the examples;
DIGITS is the executable)
"""
import json
import re
import subprocess
import sys

base, digits = sys.argv[1], sys.argv[2]
text = open("README.md").read()
# A ```sh block holding a single curl command, followed by a ```json block with its answer.
pairs = re.findall(r"```sh\n(curl [^\n]*)\n```\n```json\n(.*?)\n```", text, re.S)
if not pairs:
    sys.exit("no curl examples found in README.md")

EXACT = {"code", "predicted_class", "status", "name", "average", "classes", "model_type", "total_params"}


def compare(expected, actual, path="$"):
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        for key in expected:
            assert key in actual, f"{path}: missing key {key!r}"
            if key == "provenance":
                continue  # shortened in the README on purpose
            compare(expected[key], actual[key], f"{path}.{key}")
        if "provenance" not in expected:
            assert set(expected) == set(actual), f"{path}: keys {sorted(actual)} != {sorted(expected)}"
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(expected) == len(actual), f"{path}: list length differs"
        for index, (e, a) in enumerate(zip(expected, actual)):
            compare(e, a, f"{path}[{index}]")
    else:
        assert type(expected) is type(actual) or {type(expected), type(actual)} <= {int, float}, (
            f"{path}: {actual!r} is not like {expected!r}")


def exact(expected, actual, path="$"):
    if isinstance(expected, dict):
        for key, value in expected.items():
            if key in EXACT:
                assert actual[key] == value, f"{path}.{key}: {actual[key]!r} != {value!r}"
            elif key != "provenance":
                exact(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        for index, (e, a) in enumerate(zip(expected, actual)):
            exact(e, a, f"{path}[{index}]")


for command, documented in pairs:
    runnable = command.replace("localhost:8080", base)
    result = subprocess.run(runnable, shell=True, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{command}: exit {result.returncode}: {result.stderr}"
    actual = json.loads(result.stdout)
    expected = json.loads(documented)
    compare(expected, actual)
    exact(expected, actual)
    print(f"ok  {command}")
print(f"{len(pairs)} README examples answered as documented")

commands = re.findall(r"```sh\n(digits predict [^\n]*)\n```\n```\n(.*?)\n```", text, re.S)
if not commands:
    sys.exit("no digits predict examples found in README.md")
for command, documented in commands:
    arguments = command.split()[1:]
    result = subprocess.run([digits, *arguments], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{command}: exit {result.returncode}: {result.stderr}"
    assert result.stdout.strip() == documented.strip(), f"{command}: printed\n{result.stdout}"
    print(f"ok  {command}")
print(f"{len(commands)} digits predict examples printed as documented")
