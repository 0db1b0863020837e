"""The Python peer: FastAPI + uvicorn + NumPy serving the same weights as digits, the way the original
Python system would be put behind HTTP today. Same request and response shapes as digits.

    DIGITS_MODEL=data/models/binary/1/model.json uvicorn --app-dir Benchmarks/peers fastapi_app:app --workers 2
"""
import base64
import io
import json
import os
from typing import List

import numpy as np
from fastapi import FastAPI, Request
from PIL import Image
from pydantic import BaseModel

with open(os.environ.get("DIGITS_MODEL", "data/models/binary/1/model.json")) as file:
    MODEL = json.load(file)
CLASSES = MODEL["classes"]
SHAPE = MODEL["input_shape"]


def rows(layer):
    """A layer's weights, one row per unit or filter, from either form: numbers, or int8 times a scale."""
    if "weights_int8" in layer:
        values = np.frombuffer(base64.b64decode(layer["weights_int8"]), dtype=np.int8).astype(np.float32)
        scales = np.asarray(layer["weight_scales"], dtype=np.float32)
        return values.reshape(len(scales), -1) * scales[:, None]
    return np.asarray(layer["weights"], dtype=np.float32)


def load(layer):
    """A layer of the model file (format 1 or 2) as NumPy arrays: dense kernels transposed to
    (inputs, units), convolution kernels (filters, channels, rows, columns)."""
    kind = layer.get("type", "dense")
    if kind == "dense":
        return kind, rows(layer).T, np.asarray(layer["bias"], dtype=np.float32), layer["activation"]
    if kind == "conv2d":
        size = layer["kernel_size"]
        weights = rows(layer)
        return kind, weights.reshape(layer["filters"], -1, size, size), np.asarray(layer["bias"], dtype=np.float32), (layer["activation"], layer["padding"])
    return kind, None, None, None


LAYERS = [load(layer) for layer in MODEL["layers"]]


def activate(x, activation):
    if activation == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if activation == "relu":
        return np.maximum(x, 0)
    if activation == "softmax":
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return x


def convolve(x, kernels, bias, padding):
    """Cross-correlation of (N, C, H, W) maps with (K, C, R, R) kernels, as one matrix product over the
    unrolled windows (im2col), the fastest way to write it in NumPy."""
    size = kernels.shape[-1]
    if padding == "same":
        pad = (size - 1) // 2
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(2, 3))
    n, c, h, w = windows.shape[:4]
    rows = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * size * size)
    out = rows @ kernels.reshape(kernels.shape[0], -1).T + bias
    return out.reshape(n, h, w, -1).transpose(0, 3, 1, 2)


def forward(x):
    if any(kind != "dense" for kind, *_ in LAYERS):
        x = x.reshape(x.shape[0], 1, SHAPE[0], SHAPE[1])
    for kind, weights, bias, extra in LAYERS:
        if kind == "dense":
            x = activate(x.reshape(x.shape[0], -1) @ weights + bias, extra)
        elif kind == "conv2d":
            x = activate(convolve(x, weights, bias, extra[1]), extra[0])
        elif kind == "max_pool2d":
            n, c, h, w = x.shape
            x = x[:, :, : h // 2 * 2, : w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
    return x


def answer(row):
    if row.shape[0] == 1:
        p = float(row[0])
        return {"predicted_class": CLASSES[int(p >= 0.5)], "probability": p}
    index = int(row.argmax())
    return {"predicted_class": CLASSES[index], "probability": float(row[index]),
            "probabilities": [float(v) for v in row]}


class Digit(BaseModel):
    pixels: List[float]


class Batch(BaseModel):
    images: List[List[float]]


app = FastAPI()


@app.post("/predict")
def predict(digit: Digit):
    return answer(forward(np.asarray([digit.pixels], dtype=np.float32))[0])


@app.post("/predict/batch")
def predict_batch(batch: Batch):
    outputs = forward(np.asarray(batch.images, dtype=np.float32))
    return {"predictions": [answer(row) for row in outputs]}


def prepared(picture):
    """What a Python developer would write for a picture: Pillow decodes, NumPy finds the ink (polarity
    from the border, ink from 0 at the paper to 1 at the farthest level, the box of the pixels at least half
    inked; no speck removal), Pillow's BILINEAR resize scales the box to a longer side of 20, centred."""
    grey = np.asarray(Image.open(io.BytesIO(picture)).convert("L"), dtype=np.float32)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    paper = np.median(border)
    far = grey.min() if paper >= 128 else grey.max()
    ink = np.clip((paper - grey) / (paper - far), 0, 1)
    rows, columns = np.nonzero(ink >= 0.5)
    box = ink[rows.min():rows.max() + 1, columns.min():columns.max() + 1]
    height, width = box.shape
    longer = max(width, height)
    size = (max(1, round(width * 20 / longer)), max(1, round(height * 20 / longer)))
    scaled = np.asarray(Image.fromarray(box).resize(size, Image.BILINEAR))
    out = np.zeros((20, 20), dtype=np.float32)
    x, y = (20 - size[0]) // 2, (20 - size[1]) // 2
    out[y:y + size[1], x:x + size[0]] = np.clip(scaled, 0, 1)
    return out.reshape(1, 400)


@app.post("/predict/picture")
async def predict_picture(request: Request):
    return answer(forward(prepared(await request.body()))[0])


@app.get("/model")
def model():
    return {"name": MODEL["name"], "classes": CLASSES, "status": "serving"}
