"""Trains a small Keras CNN on the bundled digits and writes the fixtures of the Keras-parity test.

Run with tensorflow-cpu from PyPI (made with 2.21.0) from the project's root:
    python Tests/DigitCoreTests/Fixtures/make_keras_cnn.py

Writes, beside this script:
  keras_cnn.npz                W1, b1, ... exactly as docs/models.md's export snippet saves them
                               (Conv2D kernels in Keras's HWIO order, Dense kernels (inputs, units))
  keras_cnn_digits.npy         (12, 400) float32: test digits, row-major 20x20, 0 = paper
  keras_cnn_probabilities.npy  (12, 10) float32: Keras's own softmax outputs for them

The layers are those `digits import --layers conv8,pool,conv16-valid,pool,dense32,dropout0.25,dense10`
describes: both paddings, pooling after each convolution, and a Dense layer that reads the flattened maps
(Keras flattens channels last, which the import reorders).
"""
import os

import numpy as np
import tensorflow as tf

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.abspath(os.path.join(here, "..", "..", ".."))
tf.keras.utils.set_random_seed(7)

train_x = np.load(os.path.join(root, "data", "digits-train-X.npy")).reshape(-1, 20, 20, 1)
train_y = np.load(os.path.join(root, "data", "digits-train-y.npy"))
test_x = np.load(os.path.join(root, "data", "digits-test-X.npy"))

model = tf.keras.Sequential([
    tf.keras.Input(shape=(20, 20, 1)),
    tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
    tf.keras.layers.MaxPooling2D(),
    tf.keras.layers.Conv2D(16, 3, padding="valid", activation="relu"),
    tf.keras.layers.MaxPooling2D(),
    tf.keras.layers.Flatten(),
    tf.keras.layers.Dense(32, activation="relu"),
    tf.keras.layers.Dropout(0.25),
    tf.keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(train_x, train_y, epochs=3, batch_size=32, verbose=0)

# docs/models.md's export: every layer with weights, in order, as W1, b1, W2, b2, ...
weights = {}
for layer in model.layers:
    if layer.get_weights():
        kernel, bias = layer.get_weights()
        number = len(weights) // 2 + 1
        weights[f"W{number}"] = kernel
        weights[f"b{number}"] = bias
np.savez(os.path.join(here, "keras_cnn.npz"), **weights)

digits = test_x[::75][:12].astype(np.float32)
probabilities = model.predict(digits.reshape(-1, 20, 20, 1), verbose=0).astype(np.float32)
np.save(os.path.join(here, "keras_cnn_digits.npy"), digits)
np.save(os.path.join(here, "keras_cnn_probabilities.npy"), probabilities)
print({name: array.shape for name, array in weights.items()}, probabilities.argmax(axis=1))
