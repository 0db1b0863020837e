"""Writes the NumPy fixtures the DigitCore tests read. Run from this folder: python3 make_fixtures.py

Every file is written by NumPy itself (or derived from one it wrote), so the tests check our reader
against the real format, not against our own writer.
"""
import io
import json
import zipfile

import numpy as np

small = np.array([[0.0, 0.5, 1.0], [-1.5, 2.25, 1e-7]])

np.save("f4.npy", small.astype("<f4"))
np.save("f8.npy", small.astype("<f8"))
np.save("u1.npy", np.array([0, 1, 9, 255], dtype="|u1"))
np.save("i4.npy", np.array([[-2, 0], [7, 2147483647]], dtype="<i4"))
np.save("i8.npy", np.array([0, 1, 2, -9], dtype="<i8"))
np.save("scalar_shape.npy", np.array(3.5, dtype="<f8"))
np.save("empty.npy", np.zeros((0, 400), dtype="<f4"))
for version in [(2, 0), (3, 0)]:
    with open(f"v{version[0]}.npy", "wb") as f:
        np.lib.format.write_array(f, small.astype("<f4"), version=version)

# Refusals.
np.save("big_endian.npy", small.astype(">f4"))
np.save("fortran.npy", np.asfortranarray(small.astype("<f4")))
np.save("complex.npy", small.astype("<c8"))
np.save("float16.npy", small.astype("<f2"))
good = open("f4.npy", "rb").read()
open("truncated.npy", "wb").write(good[:-5])
open("trailing.npy", "wb").write(good + b"\0\0\0\0")
open("truncated_header.npy", "wb").write(good[:40])
header_len = int.from_bytes(good[8:10], "little")
lying = good[: 10 + header_len].replace(b"(2, 3)", b"(9, 3)") + good[10 + header_len :]
open("lying_shape.npy", "wb").write(lying)
open("not_numpy.npy", "wb").write(b"PK\x03\x04 this is not a npy file")
open("bad_version.npy", "wb").write(good[:6] + b"\x09\x00" + good[8:])

# Labels for the data set checks.
np.save("labels_out_of_range.npy", np.array([0, 1, 12, 3], dtype="|u1"))
np.save("labels_float.npy", np.array([0.0, 1.0, 2.0, 3.0], dtype="<f4"))
np.save("images_4.npy", np.linspace(0, 1, 4 * 400, dtype="<f4").reshape(4, 400))
np.save("images_3.npy", np.linspace(0, 1, 3 * 400, dtype="<f4").reshape(3, 400))
np.save("labels_4.npy", np.array([0, 1, 2, 3], dtype="<i8"))

# A Keras-style network, 4 inputs -> 3 relu -> 2 softmax, with NumPy's own forward pass as the expectation.
rng = np.random.default_rng(7)
W1 = rng.normal(size=(4, 3)).astype("<f4")
b1 = rng.normal(size=(3,)).astype("<f4")
W2 = rng.normal(size=(3, 2)).astype("<f4")
b2 = rng.normal(size=(2,)).astype("<f4")
x = rng.uniform(size=(5, 4)).astype("<f4")
h = np.maximum(x.astype(np.float64) @ W1 + b1, 0)
z = h @ W2 + b2
e = np.exp(z - z.max(axis=1, keepdims=True))
y = e / e.sum(axis=1, keepdims=True)
np.savez("keras_stored.npz", W1=W1, b1=b1, W2=W2, b2=b2)
np.savez_compressed("keras_deflate.npz", W1=W1, b1=b1, W2=W2, b2=b2)
# A layer's arrays missing in the middle: W1 and W3 without W2.
np.savez("keras_gap.npz", W1=W1, b1=b1, W3=W2, b3=b2)
json.dump({"inputs": x.tolist(), "outputs": y.tolist()}, open("keras_expected.json", "w"))

# A compressed archive with one byte of its deflate stream changed, and one whose CRC is wrong.
data = bytearray(open("keras_deflate.npz", "rb").read())
data[60] ^= 0xFF
open("corrupt_deflate.npz", "wb").write(bytes(data))
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
    archive.writestr("W1.npy", good)
raw = bytearray(buffer.getvalue())
raw[raw.index(b"W1.npy") + 6 + 20] ^= 0x01  # a byte inside the stored array's data
open("bad_crc.npz", "wb").write(bytes(raw))
with zipfile.ZipFile("bzip2.npz", "w", zipfile.ZIP_BZIP2) as archive:
    archive.writestr("W1.npy", good)
