"""Runs every example of the README and of the documents beside it against a live server:

- every curl example, its answer compared with the JSON shown under it: the same keys at every level, and
  the same error codes, classes and statuses. Numbers may differ in their last digits; shape and meaning
  may not;
- every `digits predict` example, run with the built executable, its output compared with the block under
  it, line for line;
- every Python snippet followed by a block of output, run with the interpreter that has its libraries
  (Pillow and NumPy, or Triton's client), its output compared with that block; the Pillow snippet's
  `digit_pixels` is also compared with the server's own 20x20 of each picture it reads.

Usage: python3 .ci/readme_examples.py BASE_URL DIGITS PYTHON CLIENTS_PYTHON
(BASE_URL replaces localhost:8080 in the examples; DIGITS is the executable; PYTHON has Pillow and NumPy;
CLIENTS_PYTHON has tritonclient)
"""
import json
import os
import re
import subprocess
import sys

base, digits, python, clients_python = sys.argv[1:5]
DOCUMENTS = ["README.md", "docs/api.md", "docs/models.md", "deploy/README.md", "Benchmarks/README.md",
             "Sources/README.md"]
text = "\n".join(open(document).read() for document in DOCUMENTS)


def anchors(path):
    """The anchors GitHub makes of a Markdown file's headings (lower case, punctuation dropped, spaces to
    hyphens), outside code blocks."""
    found, in_code = set(), False
    for line in open(path):
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            heading = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", heading).replace(" ", "-"))
    return found


# Every relative link between the documents leads to a file that exists, and to a heading in it.
for document in DOCUMENTS:
    folder = os.path.dirname(document)
    for target in re.findall(r"\]\(([^)\s]+)\)", open(document).read()):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        path = os.path.normpath(os.path.join(folder, path)) if path else document
        assert os.path.exists(path), f"{document}: the link {target} leads to no file"
        if anchor:
            assert anchor in anchors(path), f"{document}: the link {target} names no heading of {path}"
print(f"every link between {len(DOCUMENTS)} documents leads somewhere")
# A ```sh block holding a single curl command, followed by a ```json block with its answer.
pairs = re.findall(r"```sh\n(curl [^\n]*)\n```\n```json\n(.*?)\n```", text, re.S)
if not pairs:
    sys.exit(f"no curl examples found in {DOCUMENTS}")

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
print(f"{len(pairs)} curl examples answered as documented")

commands = re.findall(r"```sh\n(digits predict [^\n]*)\n```\n```\n(.*?)\n```", text, re.S)
if not commands:
    sys.exit(f"no digits predict examples found in {DOCUMENTS}")
for command, documented in commands:
    arguments = command.split()[1:]
    result = subprocess.run([digits, *arguments], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{command}: exit {result.returncode}: {result.stderr}"
    assert result.stdout.strip() == documented.strip(), f"{command}: printed\n{result.stdout}"
    print(f"ok  {command}")
print(f"{len(commands)} digits predict examples printed as documented")

# A ```python block followed by a plain block: the snippet and what it prints.
snippets = re.findall(r"```python\n(.*?)\n```\n```\n(.*?)\n```", text, re.S)
if len(snippets) < 2:
    sys.exit(f"expected the Pillow and Triton snippets in {DOCUMENTS}; found {len(snippets)} runnable ones")
for snippet, documented in snippets:
    runnable = snippet.replace("localhost:8080", base)
    interpreter = clients_python if "tritonclient" in snippet else python
    result = subprocess.run([interpreter, "-c", runnable], capture_output=True, text=True, timeout=120)
    first_line = snippet.split("\n")[0]
    assert result.returncode == 0, f"snippet {first_line!r}: exit {result.returncode}: {result.stderr}"
    assert result.stdout.strip() == documented.strip(), f"snippet {first_line!r} printed\n{result.stdout}"
    print(f"ok  snippet {first_line}")
    if "def digit_pixels" not in snippet:
        continue
    # Its preparation against the server's: the same 20x20 for every picture the snippet reads.
    definitions = snippet.split("\nfiles = ")[0]
    files = re.findall(r'"(data/examples/[^"]+)"', snippet)
    check = definitions + f"""
import json, sys, urllib.request
worst = 0.0
for file in {files!r}:
    kind = "image/png" if file.endswith(".png") else "image/jpeg"
    request = urllib.request.Request("http://{base}/models/ten-class/predict?include_input=true",
                                     open(file, "rb").read(), {{"Content-Type": kind}})
    server = np.array(json.load(urllib.request.urlopen(request, timeout=60))["input"])
    worst = max(worst, float(np.abs(digit_pixels(file).ravel() - server).max()))
print(worst)
assert worst <= 1e-4, f"the snippet's 20x20 differs from the server's by {{worst}}"
"""
    result = subprocess.run([python, "-c", check], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"digit_pixels against the server: {result.stdout}{result.stderr}"
    print(f"ok  digit_pixels gives the server's 20x20 for {len(files)} pictures (largest difference {result.stdout.strip()})")
print(f"{len(snippets)} Python snippets printed as documented")
