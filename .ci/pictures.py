"""Pictures of real test digits, made in the ways users make them, and the reference 20x20 for each.

    python3 .ci/pictures.py write FOLDER          writes the Swift tests' fixtures (Tests/Fixtures/pictures)
    python3 .ci/pictures.py check path/to/digits  serves the models and checks every fixture end to end

Each fixture is a test digit (data/digits-test-X.npy) drawn as a picture: 28x28 MNIST-style (white on
black, the digit in the middle 20x20 as MNIST has it), 280x280 black on white, RGB on a light grey sheet,
JPEG at quality 75, a progressive JPEG, a JPEG stored sideways with its Exif orientation, binary PGM (8
and 16 bits), a 16-bit PNG, an interlaced PNG (written here: Pillow cannot), a palette PNG, and
transparent PNGs (dark ink, and white ink on a transparent sheet).

The reference is data/README.md's method, written here independently with Pillow and SciPy: grey as
Pillow converts it, the paper's level from the border, ink scaled from paper (0) to the darkest (or
lightest) level (1), the bounding box of the pixels at least half inked ignoring specks (8-connected
groups under 2 % of the largest, scipy.ndimage.label), Pillow's BILINEAR resize of the box so its longer
side is 20, centred. `check` sends each fixture to POST /predict?include_input=true and compares the
20x20 the server derived with the reference (max and mean differences), and the prediction with the one
the server gives the reference as JSON; then `digits predict` on the same files, and the hostile files.
"""
import io
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from digits_process import bundled_model  # noqa: E402

SIDE, INK_THRESHOLD, SPECK_FRACTION = 20, 0.5, 0.02
# Test digits used: the first of each class.
TEST_IMAGES = np.load("data/digits-test-X.npy")
TEST_LABELS = np.load("data/digits-test-y.npy")
DIGITS = [int(np.nonzero(TEST_LABELS == label)[0][0]) for label in range(10)]
# Tolerances (docs/api.md, "Pictures: PNG, JPEG and PGM"): the server and this reference decode with the same libraries and
# compute the same steps, so they agree to float rounding (about 1e-7); the margin leaves room for a
# JPEG decoder of another version in Pillow's wheel.
MAX_DIFFERENCE, MEAN_DIFFERENCE = 0.01, 0.001


def mnist_style(index):
    """The test digit as MNIST draws it: 0-255, white on black, in the middle of 28x28."""
    canvas = np.zeros((28, 28), dtype=np.uint8)
    canvas[4:24, 4:24] = np.round(TEST_IMAGES[index].reshape(20, 20) * 255).astype(np.uint8)
    return canvas


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(width, height, raw, bit_depth=8, colour_type=0, interlace=0, ihdr_width=None, ihdr_height=None):
    """A PNG from already filtered scanlines, with any header: for interlacing and for hostile files."""
    header = struct.pack(">IIBBBBB", width if ihdr_width is None else ihdr_width,
                         height if ihdr_height is None else ihdr_height, bit_depth, colour_type, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(raw, 9))
            + png_chunk(b"IEND", b""))


def interlaced_png(grey):
    """An 8-bit grey Adam7-interlaced PNG: its seven passes, each row with filter type 0."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = grey[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    return png_bytes(grey.shape[1], grey.shape[0], raw, interlace=1)


def pgm(grey, max_value=255):
    header = f"P5\n# a test digit\n{grey.shape[1]} {grey.shape[0]}\n{max_value}\n".encode()
    if max_value > 255:
        return header + (grey.astype(np.uint32) * max_value // 255).astype(">u2").tobytes()
    return header + grey.tobytes()


def encoded(image, format, **options):
    out = io.BytesIO()
    image.save(out, format, **options)
    return out.getvalue()


def fixtures(index):
    """(file name, bytes, media type) of each way of drawing test digit `index`."""
    small = mnist_style(index)
    ink = Image.fromarray(small).resize((280, 280), Image.BILINEAR)
    black_on_white = ImageOps.invert(ink)
    weight = np.asarray(ink.resize((140, 140), Image.BILINEAR), dtype=np.float64)[..., None] / 255
    sheet, pen = np.array([196, 200, 204]), np.array([25, 35, 110])
    on_grey = Image.fromarray(np.round(sheet + (pen - sheet) * weight).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter clockwise: stored a quarter counter-clockwise
    alpha = np.asarray(ink.resize((112, 112), Image.BILINEAR))
    dark_ink = np.zeros((112, 112, 4), dtype=np.uint8)
    dark_ink[..., :3], dark_ink[..., 3] = 30, alpha
    white_ink = np.stack([np.full((112, 112), 255, np.uint8), alpha], axis=-1)
    sixteen = (65535 - np.asarray(ink.resize((56, 56), Image.BILINEAR), dtype=np.uint32) * 257).astype(np.uint16)
    name = f"digit{index}-"
    return [
        (name + "mnist28.png", encoded(Image.fromarray(small), "PNG"), "image/png"),
        (name + "black-on-white280.png", encoded(black_on_white, "PNG"), "image/png"),
        (name + "rgb-on-grey140.png", encoded(on_grey, "PNG"), "image/png"),
        (name + "quality75.jpg", encoded(black_on_white.convert("RGB"), "JPEG", quality=75), "image/jpeg"),
        (name + "progressive.jpg", encoded(on_grey, "JPEG", quality=90, progressive=True), "image/jpeg"),
        (name + "exif-rotated.jpg", encoded(black_on_white.rotate(90, expand=True), "JPEG", quality=90, exif=exif),
         "image/jpeg"),
        (name + "mnist28.pgm", pgm(small), "image/x-portable-graymap"),
        (name + "sixteen-bit.pgm", pgm(255 - np.asarray(ink.resize((56, 56), Image.BILINEAR)), 65535),
         "image/x-portable-graymap"),
        (name + "sixteen-bit.png", encoded(Image.fromarray(sixteen), "PNG"), "image/png"),
        (name + "interlaced.png", interlaced_png(np.asarray(black_on_white.resize((56, 56), Image.BILINEAR))),
         "image/png"),
        (name + "palette.png", encoded(on_grey.convert("P", palette=Image.ADAPTIVE, colors=64), "PNG"), "image/png"),
        (name + "transparent-dark-ink.png", encoded(Image.fromarray(dark_ink), "PNG"), "image/png"),
        (name + "transparent-white-ink.png", encoded(Image.fromarray(white_ink), "PNG"), "image/png"),
    ]


def hostile():
    """(file name, bytes, media type, status, words the message must hold) of files that must be refused."""
    good = encoded(Image.fromarray(mnist_style(DIGITS[7])), "PNG")
    # The IDAT chunk's CRC (after its length, type and data) changed: the pixels are intact.
    idat = good.index(b"IDAT")
    corrupt = bytearray(good)
    corrupt[idat + 4 + struct.unpack(">I", good[idat - 4:idat])[0]] ^= 0xFF
    row = b"\x00" + b"\x00" * 16
    jpeg = encoded(Image.fromarray(mnist_style(DIGITS[7])), "JPEG", quality=90)
    sof = jpeg.index(b"\xff\xc0")
    jpeg_bomb = jpeg[:sof + 5] + struct.pack(">HH", 65000, 65000) + jpeg[sof + 9:]
    return [
        ("png-bomb.png", png_bytes(16, 16, row * 16, ihdr_width=100_000, ihdr_height=100_000), "image/png", 413,
         "100000x100000"),
        ("jpeg-bomb.jpg", jpeg_bomb, "image/jpeg", 413, "65000x65000"),
        ("truncated.png", good[:len(good) // 2], "image/png", 422, "PNG"),
        ("truncated.jpg", jpeg[:len(jpeg) // 2], "image/jpeg", 422, "JPEG"),
        ("crc.png", bytes(corrupt), "image/png", 422, "CRC"),
        ("zero-size.png", png_bytes(16, 16, row * 16, ihdr_width=0), "image/png", 422, "width"),
        ("all-paper.png", encoded(Image.new("L", (28, 28), 0), "PNG"), "image/png", 422, "no ink found"),
        ("one-pixel.png", encoded(Image.new("L", (1, 1), 255), "PNG"), "image/png", 422, "no ink found"),
        ("not-a-picture.png", b"GIF89a....", "image/png", 422, "declared as image/png"),
        ("jpeg-as-png.png", jpeg, "image/png", 422, "Content-Type: image/jpeg"),
        ("gif.gif", b"GIF89a" + bytes(32), "image/gif", 415, "image/png"),
    ]


def grey_levels(image):
    """The picture as grey levels 0-255, as the service defines them: Pillow's luma; transparency over
    the shade opposite to the opaque part's."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I"):
        return np.round(np.asarray(image, dtype=np.float64) / 257)
    if "A" in image.getbands() or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        levels = np.asarray(rgba.convert("RGB").convert("L"), dtype=np.float64)
        opacity = np.asarray(rgba, dtype=np.float64)[..., 3]
        if (opacity < 255).any():
            opaque = levels[opacity >= 128]
            background = 255 if opaque.size == 0 or opaque.mean() < 128 else 0
            levels = np.floor((levels * opacity + background * (255 - opacity) + 127) / 255)
        return levels
    return np.asarray(image.convert("L"), dtype=np.float64)


def reference(image):
    """data/README.md's method on a picture (see the module's comment)."""
    levels = grey_levels(image)
    border = np.concatenate([levels[0], levels[-1], levels[1:-1, 0], levels[1:-1, -1]])
    paper = np.sort(border)[len(border) // 2]
    ink_level = levels.min() if paper >= 128 else levels.max()
    ink = np.clip((paper - levels) / (paper - ink_level), 0, 1)
    labels, count = ndimage.label(ink >= INK_THRESHOLD, structure=np.ones((3, 3)))
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index=range(1, count + 1))
    kept = np.isin(labels, 1 + np.nonzero(sizes >= SPECK_FRACTION * sizes.max())[0])
    rows, columns = np.nonzero(kept)
    box = ink[rows.min():rows.max() + 1, columns.min():columns.max() + 1]
    height, width = box.shape
    longer = max(width, height)
    new_width = max(1, int(np.floor(width * SIDE / longer + 0.5)))
    new_height = max(1, int(np.floor(height * SIDE / longer + 0.5)))
    scaled = np.asarray(Image.fromarray(box.astype(np.float32)).resize((new_width, new_height), Image.BILINEAR))
    out = np.zeros((SIDE, SIDE))
    x, y = (SIDE - new_width) // 2, (SIDE - new_height) // 2
    out[y:y + new_height, x:x + new_width] = np.clip(scaled, 0, 1)
    return out.reshape(-1)


def write(folder):
    """The fixtures of the Swift tests: every form of one test digit (a 7), the reference 20x20 of each
    (references.json), and the hostile files with the status and words each must get (hostile.json)."""
    os.makedirs(folder, exist_ok=True)
    references = {}
    for name, data, _ in fixtures(DIGITS[7]):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
        references[name] = [round(float(v), 7) for v in reference(Image.open(io.BytesIO(data)))]
    expectations = {}
    for name, data, media_type, status, words in hostile():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
        expectations[name] = {"media_type": media_type, "status": status, "words": words}
    for file, content in [("references.json", references), ("hostile.json", expectations)]:
        with open(os.path.join(folder, file), "w") as f:
            json.dump(content, f, indent=1, sort_keys=True)
            f.write("\n")


def post(port, path, body, content_type):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def start_server(digits, model):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([digits, "serve", "--host", "127.0.0.1", "--port", str(port), "--model",
                                bundled_model(model), "--log-level", "warning"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/model", timeout=5)
            return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"digits serve did not start: {process.stdout.read()}")


def check(digits):
    process, port = start_server(digits, "ten-class")
    failures, differences, means, agree_original = [], [], [], 0
    try:
        total = 0
        for index in DIGITS:
            original = post(port, "/predict", json.dumps({"pixels": TEST_IMAGES[index].tolist()}).encode(),
                            "application/json")[1]["predicted_class"]
            for name, data, media_type in fixtures(index):
                total += 1
                status, answer = post(port, "/predict?include_input=true", data, media_type)
                if status != 200:
                    failures.append(f"{name}: {status} {answer}")
                    continue
                expected = reference(Image.open(io.BytesIO(data)))
                difference = np.abs(np.array(answer["input"]) - expected)
                differences.append(difference.max())
                means.append(difference.mean())
                by_json = post(port, "/predict", json.dumps({"pixels": expected.tolist()}).encode(),
                               "application/json")[1]
                agree_original += answer["predicted_class"] == original
                if difference.max() > MAX_DIFFERENCE or difference.mean() > MEAN_DIFFERENCE:
                    failures.append(f"{name}: the server's 20x20 differs from the reference by up to "
                                    f"{difference.max():.4f} (mean {difference.mean():.5f})")
                if answer["predicted_class"] != by_json["predicted_class"]:
                    failures.append(f"{name}: the picture is read as {answer['predicted_class']}, "
                                    f"the reference as JSON as {by_json['predicted_class']}")
        print(f"{total} pictures of {len(DIGITS)} test digits in {len(fixtures(0))} forms: the server's 20x20 "
              f"against the reference: max difference {max(differences):.2g}, mean {np.mean(means):.2g} "
              f"(worst mean {max(means):.2g}); {agree_original}/{total} predictions equal the original "
              f"20x20's; every picture's prediction equals its reference's by JSON: "
              f"{not any('read as' in f for f in failures)}")
        for name, data, media_type, status, words in hostile():
            got, answer = post(port, "/predict", data, media_type)
            message = answer.get("error", {}).get("message", "")
            print(f"  {name}: {got} {message}")
            if got != status or words not in message:
                failures.append(f"{name}: expected {status} with '{words}', got {got} {answer}")
        # The largest picture taken: 4096x4096 RGBA (64 MiB decoded, the default body limit), a digit in
        # the middle of a transparent sheet; one pixel wider is refused from its header.
        large = np.zeros((4096, 4096, 4), dtype=np.uint8)
        large[1948:2148, 1948:2148, 3] = np.asarray(Image.fromarray(mnist_style(DIGITS[7])).resize((200, 200)))
        large_png = encoded(Image.fromarray(large), "PNG")
        started = time.monotonic()
        status, answer = post(port, "/predict", large_png, "image/png")
        elapsed = time.monotonic() - started
        wide = png_bytes(16, 16, b"\x00" * 17 * 16, ihdr_width=4097, ihdr_height=16)
        wide_status, _ = post(port, "/predict", wide, "image/png")
        with open(f"/proc/{process.pid}/status") as status_file:
            fields = dict(line.split(":", 1) for line in status_file)
        peak, resident = (int(fields[k].split()[0]) // 1024 for k in ("VmHWM", "VmRSS"))
        print(f"4096x4096 RGBA PNG ({len(large_png):,} bytes, 64 MiB decoded): {status}, class "
              f"{answer.get('predicted_class')}, {elapsed:.2f} s; 4097 wide: {wide_status}; the server's peak "
              f"resident memory after every hostile and large picture: {peak} MB, now {resident} MB")
        if status != 200 or answer.get("predicted_class") != 7 or wide_status != 413:
            failures.append(f"largest picture: {status} {answer}, 4097 wide: {wide_status}")
        if peak > 400:
            failures.append(f"peak resident memory {peak} MB")
        # The batch of every form of one digit as multipart parts, answered in part order.
        boundary = "digits-test-boundary"
        forms = fixtures(DIGITS[3])
        body = b"".join(
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
            f"Content-Type: {media_type}\r\n\r\n".encode() + data + b"\r\n" for name, data, media_type in forms)
        body += f"--{boundary}--\r\n".encode()
        status, answer = post(port, "/predict/batch", body, f"multipart/form-data; boundary={boundary}")
        names = [p.get("filename") for p in answer.get("predictions", [])]
        if status != 200 or names != [name for name, _, _ in forms]:
            failures.append(f"multipart batch: {status} {names}")
        else:
            print(f"multipart batch of {len(forms)} parts: answered in part order, classes "
                  f"{[p['predicted_class'] for p in answer['predictions']]}")
    finally:
        process.terminate()
        process.wait(timeout=30)
    # digits predict on the same files: one line each, the same classes as the server.
    with tempfile.TemporaryDirectory() as folder:
        names = []
        for name, data, _ in fixtures(DIGITS[5]):
            names.append(name)
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
        run = subprocess.run([os.path.abspath(digits), "predict", "--model-repository", os.path.abspath("data/models"),
                              "--model-name", "ten-class", *names, "missing.png"],
                             cwd=folder, capture_output=True, text=True, timeout=300)
        lines = run.stdout.splitlines()
        print(f"digits predict on {len(names)} files and a missing one: exit {run.returncode}, "
              f"{len(lines)} lines, stderr {run.stderr.strip()!r}")
        if run.returncode != 1 or len(lines) != len(names) or not all(": 5 (probability" in l for l in lines):
            failures.append(f"digits predict: {run.returncode} {run.stdout} {run.stderr}")
    if failures:
        raise SystemExit("picture checks failed:\n  " + "\n  ".join(failures))
    print("pictures: every check passed")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "check"):
        raise SystemExit(__doc__)
    write(sys.argv[2]) if sys.argv[1] == "write" else check(sys.argv[2])
