"""The inference protocol with the clients teams already use: tritonclient[http] (binary tensors, its
default, and JSON, and gzip both ways) and kserve's REST client, against a live server with each model.
Every answer must equal what POST /predict gives for the same digits. Then GET /metrics, read with
prometheus_client's parser, must count exactly the requests this test sent.

Usage: python3 .ci/clients_test.py path/to/digits      (from the project's top folder; bounded in time)
"""
import asyncio
import gzip
import json
import os
import shutil
import sys
import tempfile
import urllib.request

import numpy as np
import tritonclient.http as triton
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from prometheus_client.parser import text_string_to_metric_families

from digits_process import bundled_model, start_digits

DIGITS = sys.argv[1]


def load_test_images():
    data = open("data/digits-test-X.npy", "rb").read()
    header_length = int.from_bytes(data[8:10], "little")
    return np.frombuffer(data[10 + header_length:], dtype="<f4").reshape(900, 400)


IMAGES = load_test_images()


def start_server(model, *options):
    return start_digits(DIGITS, *(options or ["--model", bundled_model(model)]))


def predict(port, image):
    body = json.dumps({"pixels": [float(v) for v in image]}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=body,
                                     headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=30))


def check(name, probabilities, classes, expected, binary_model):
    """probabilities [N, K] and classes [N] against /predict's answers."""
    for index, answer in enumerate(expected):
        assert int(classes[index]) == answer["predicted_class"], (name, index, classes[index], answer)
        if binary_model:
            assert np.float32(probabilities[index][0]) == np.float32(answer["probability"]), (name, index)
        else:
            assert np.array_equal(np.float32(probabilities[index]), np.float32(answer["probabilities"])), (name, index)
    print(f"  {name}: {len(expected)} digits, answers identical to /predict's")


def run(model):
    server, port = start_server(model)
    sent = {"infer": 0, "images": 0}
    try:
        binary_model = model == "binary"
        digits = IMAGES[:25] if binary_model else IMAGES[::36][:25]
        expected = [predict(port, image) for image in digits]
        sent["images"] += len(digits)

        client = triton.InferenceServerClient(url=f"127.0.0.1:{port}")
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(model)
        metadata = client.get_model_metadata(model)
        assert metadata["name"] == model and metadata["inputs"][0]["name"] == "pixels", metadata
        print(f"{model}: tritonclient health and metadata: {json.dumps(metadata)[:120]}...")

        # Binary tensors both ways: tritonclient's default.
        tensor = triton.InferInput("pixels", list(digits.shape), "FP32")
        tensor.set_data_from_numpy(digits)
        result = client.infer(model, [tensor], request_id="binary-1")
        assert result.get_response()["id"] == "binary-1"
        check("tritonclient, binary tensors", result.as_numpy("probabilities"), result.as_numpy("predicted_class"),
              expected, binary_model)
        sent["infer"] += 1
        sent["images"] += len(digits)

        # JSON tensors, FP64, images as 20x20, outputs asked for by name.
        tensor = triton.InferInput("pixels", [len(digits), 20, 20], "FP64")
        tensor.set_data_from_numpy(digits.reshape(-1, 20, 20).astype(np.float64), binary_data=False)
        outputs = [triton.InferRequestedOutput(name, binary_data=False) for name in ["probabilities", "predicted_class"]]
        result = client.infer(model, [tensor], outputs=outputs)
        assert all("data" in output for output in result.get_response()["outputs"])
        check("tritonclient, JSON tensors", result.as_numpy("probabilities"), result.as_numpy("predicted_class"),
              expected, binary_model)
        sent["infer"] += 1
        sent["images"] += len(digits)

        # gzip both ways.
        tensor = triton.InferInput("pixels", list(digits.shape), "FP32")
        tensor.set_data_from_numpy(digits)
        result = client.infer(model, [tensor], request_compression_algorithm="gzip",
                              response_compression_algorithm="gzip")
        check("tritonclient, gzip request and response", result.as_numpy("probabilities"),
              result.as_numpy("predicted_class"), expected, binary_model)
        sent["infer"] += 1
        sent["images"] += len(digits)

        # A large response is gzip-compressed for a client that accepts it (small ones are not worth it).
        plain = urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.yaml", timeout=30).read()
        reply = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/openapi.yaml",
                                                              headers={"Accept-Encoding": "gzip"}), timeout=30)
        squeezed = reply.read()
        assert reply.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in reply.headers["Vary"]
        assert gzip.decompress(squeezed) == plain and len(squeezed) < len(plain)
        print(f"  GET /openapi.yaml with Accept-Encoding: gzip: {len(squeezed)} bytes of gzip for {len(plain)}")

        # A wrong model name is refused in the protocol's error format.
        try:
            client.infer("no-such-model", [tensor])
            raise SystemExit("an unknown model was served")
        except triton.InferenceServerException as error:
            assert "not served here" in str(error), error
        sent["wrong_model"] = 1

        # kserve's REST client.
        async def kserve_run():
            rest = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
            base = f"http://127.0.0.1:{port}"
            assert await rest.is_server_live(base) and await rest.is_server_ready(base)
            assert await rest.is_model_ready(base, model)
            request = InferRequest(model_name=model, infer_inputs=[
                InferInput(name="pixels", shape=list(digits.shape), datatype="FP32", data=digits.tolist())])
            response = await rest.infer(base, request, model_name=model)
            outputs = {output.name: output.as_numpy() for output in response.outputs}
            await rest.close()
            return outputs
        outputs = asyncio.run(kserve_run())
        check("kserve REST client", outputs["probabilities"], outputs["predicted_class"], expected, binary_model)
        sent["infer"] += 1
        sent["images"] += len(digits)

        # The metrics count what this test sent.
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value

        def value(metric, **labels):
            return samples.get((metric, tuple(sorted(labels.items()))), 0)

        infers = value("digits_http_requests_total", route="/v2/models/{name}/infer", method="POST", status="200")
        predicts = value("digits_http_requests_total", route="/predict", method="POST", status="200")
        not_found = value("digits_http_requests_total", route="/v2/models/{name}/infer", method="POST", status="404")
        images = value("digits_images_predicted_total", model=model, version="1")
        info = value("digits_model_info", model=model, version="1", sha256=json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/model"))["sha256"])
        histogram = value("digits_http_request_duration_seconds_count", route="/predict")
        print(f"  /metrics: {infers:.0f} infer, {predicts:.0f} predict, {not_found:.0f} unknown-model requests, "
              f"{images:.0f} images, model info {info:.0f}, /predict latency histogram count {histogram:.0f}")
        assert infers == sent["infer"], (infers, sent)
        assert predicts == len(digits) and histogram == len(digits), (predicts, histogram)
        assert not_found == sent["wrong_model"], not_found
        assert images == sent["images"], (images, sent)
        assert info == 1
        assert value("digits_http_connections_open") >= 1
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_repository():
    """Triton's model repository API through tritonclient, in explicit mode: the index, loads, unloads,
    readiness, metadata and inference against named versions."""
    repository = tempfile.mkdtemp(prefix="digits-repository-")
    for name, version, source in [("binary", 1, "binary"), ("binary", 2, "binary"), ("ten-class", 1, "ten-class")]:
        os.makedirs(f"{repository}/{name}/{version}")
        shutil.copy(f"data/models/{source}/1/model.json", f"{repository}/{name}/{version}/model.json")
    with open(f"{repository}/binary/config.json", "w") as config:
        json.dump({"version_policy": {"all": {}}}, config)
    server, port = start_server("repository", "--model-repository", repository, "--model-control", "explicit",
                                "--load-model", "binary")
    try:
        client = triton.InferenceServerClient(url=f"127.0.0.1:{port}")
        index = {(entry["name"], entry.get("version", "")): entry["state"]
                 for entry in client.get_model_repository_index()}
        assert index == {("binary", "1"): "READY", ("binary", "2"): "READY", ("ten-class", ""): "UNAVAILABLE"}, index
        print(f"repository: index {index}")
        assert not client.is_model_ready("ten-class")
        client.load_model("ten-class")
        assert client.is_model_ready("ten-class") and client.is_model_ready("ten-class", model_version="1")
        print("  load_model('ten-class'): ready")
        for version in ["1", "2"]:
            metadata = client.get_model_metadata("binary", model_version=version)
            assert metadata["versions"] == ["1", "2"], metadata
            pixels = triton.InferInput("pixels", [3, 400], "FP32")
            pixels.set_data_from_numpy(IMAGES[:3].astype(np.float32))
            result = client.infer("binary", [pixels], model_version=version)
            assert result.get_response()["model_version"] == version, result.get_response()
            expected = [predict(port, image)["predicted_class"] for image in IMAGES[:3]]
            assert list(result.as_numpy("predicted_class")) == expected
        print("  get_model_metadata and infer against versions 1 and 2: each answered by the version named")
        client.unload_model("ten-class")
        assert not client.is_model_ready("ten-class")
        entry = [e for e in client.get_model_repository_index() if e["name"] == "ten-class"]
        assert entry and all(e["state"] == "UNAVAILABLE" for e in entry), entry
        print(f"  unload_model('ten-class'): not ready, index {entry}")
        try:
            client.load_model("binary", config="{}")
            raise SystemExit("a load with a config in the request was accepted")
        except triton.InferenceServerException as error:
            assert "cannot be uploaded" in str(error), error
            print(f"  load_model with a config in the request refused: {str(error)[:100]}...")
        try:
            client.load_model("no-such-model")
            raise SystemExit("an unknown model loaded")
        except triton.InferenceServerException as error:
            assert "no model 'no-such-model'" in str(error), error
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(repository)


for name in ["binary", "ten-class"]:
    run(name)
run_repository()
print("PASS: tritonclient and kserve agree with /predict; /metrics counts every request; the repository API works")
