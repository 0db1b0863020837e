"""The Python peer: FastAPI + uvicorn + NumPy serving the same weights as digits, the way the original
Python system would be put behind HTTP today. Same request and response shapes as digits.

    DIGITS_MODEL=data/models/binary/1/model.json uvicorn --app-dir Benchmarks/peers fastapi_app:app --workers 2
"""
import json
import os
from typing import List

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

with open(os.environ.get("DIGITS_MODEL", "data/models/binary/1/model.json")) as file:
    MODEL = json.load(file)
LAYERS = [(np.asarray(layer["weights"], dtype=np.float32).T, np.asarray(layer["bias"], dtype=np.float32),
           layer["activation"]) for layer in MODEL["layers"]]
CLASSES = MODEL["classes"]


def forward(x):
    for weights, bias, activation in LAYERS:
        x = x @ weights + bias
        if activation == "sigmoid":
            x = 1 / (1 + np.exp(-x))
        elif activation == "relu":
            x = np.maximum(x, 0)
        elif activation == "softmax":
            e = np.exp(x - x.max(axis=1, keepdims=True))
            x = e / e.sum(axis=1, keepdims=True)
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


@app.get("/model")
def model():
    return {"name": MODEL["name"], "classes": CLASSES, "status": "serving"}
