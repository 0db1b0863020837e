"""The page at GET / in a real browser: headless Chromium, driven by Selenium, against a live server.

It draws a "1" with a mouse and a "0" with a finger (the binary model), then a "7" with a pen (the
ten-class model), each as pointer strokes on the pad, and checks that
  - the page sends its drawing as a PNG and shows the prediction the server returns for it, and the right
    digit; the same PNG sent here, and the 20x20 the server made of it sent as JSON, get the same answer;
  - that 20x20 (which the page shows) matches, pixel for pixel within a small tolerance, a reference
    rasterisation of the same strokes made here with Pillow and NumPy following data/README.md;
  - the page says so clearly when the server is gone;
and it saves screenshots at a desktop and a phone width.

Usage: python3 .ci/browser_test.py path/to/digits SCREENSHOT_FOLDER    (from the project's top folder)
"""
import base64
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
from PIL import Image, ImageDraw
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.actions import interaction
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.actions.pointer_input import PointerInput
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from digits_process import bundled_model  # noqa: E402

DIGITS, SCREENSHOTS = sys.argv[1], sys.argv[2]
SIZE, OUT, STROKE, INK_THRESHOLD = 280, 20, 22, 0.5
DEADLINE = time.monotonic() + 300

# Strokes in pad coordinates (0..280), each a list of points.
ONE = [[(140 + 4 * t / 30, 50 + 180 * t / 30) for t in range(31)]]
ZERO = [[(140 + 60 * math.sin(2 * math.pi * t / 40), 140 - 85 * math.cos(2 * math.pi * t / 40)) for t in range(41)]]
SEVEN = [[(70 + 140 * t / 20, 60) for t in range(21)] + [(210 - 80 * t / 25, 60 + 170 * t / 25) for t in range(1, 26)]]


def start_server(model):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    choice = ["--model", bundled_model(model)] if model else []
    process = subprocess.Popen([DIGITS, "serve", "--host", "127.0.0.1", "--port", str(port), *choice,
                                "--log-level", "notice"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in process.stdout:
        if "ready on" in line:
            break
    return process, port


def reference(strokes):
    """The strokes drawn with Pillow and reduced as data/README.md says, with Pillow's own BILINEAR resize:
    independent of the page's code."""
    # Drawn 4 times larger and averaged down, which gives edges the partial coverage a browser's
    # anti-aliasing gives them.
    k = 4
    image = Image.new("L", (SIZE * k, SIZE * k), 255)
    draw = ImageDraw.Draw(image)
    r = STROKE * k / 2
    for points in strokes:
        points = [(x * k, y * k) for x, y in points]
        for a, b in zip([points[0]] + points[:-1], points):
            draw.line([a, b], fill=0, width=STROKE * k)
            draw.ellipse([b[0] - r, b[1] - r, b[0] + r, b[1] + r], fill=0)
    ink = 1 - np.asarray(image, dtype=np.float64).reshape(SIZE, k, SIZE, k).mean(axis=(1, 3)) / 255
    rows, columns = np.nonzero(ink >= INK_THRESHOLD)
    box = ink[rows.min():rows.max() + 1, columns.min():columns.max() + 1]
    height, width = box.shape
    longer = max(width, height)
    new_width, new_height = max(1, round(width * OUT / longer)), max(1, round(height * OUT / longer))
    scaled = np.asarray(Image.fromarray(box.astype(np.float32)).resize((new_width, new_height), Image.BILINEAR))
    out = np.zeros((OUT, OUT))
    offset_x, offset_y = (OUT - new_width) // 2, (OUT - new_height) // 2
    out[offset_y:offset_y + new_height, offset_x:offset_x + new_width] = np.clip(scaled, 0, 1)
    return out.reshape(-1)


def draw(driver, strokes, kind):
    pad = driver.find_element(By.ID, "pad")
    box = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", pad)
    pointer = PointerInput({"mouse": interaction.POINTER_MOUSE, "pen": interaction.POINTER_PEN,
                            "touch": interaction.POINTER_TOUCH}[kind], kind)
    actions = ActionBuilder(driver, mouse=pointer, duration=10)
    for points in strokes:
        def offset(p):
            return int(p[0] * box[0] / SIZE - box[0] / 2), int(p[1] * box[1] / SIZE - box[1] / 2)
        actions.pointer_action.move_to(pad, *offset(points[0]))
        actions.pointer_action.pointer_down()
        for p in points[1:]:
            actions.pointer_action.move_to(pad, *offset(p))
        actions.pointer_action.pointer_up()
    actions.perform()


def final_prediction(driver):
    """Waits until the page has predicted its current drawing, and returns what it sent and got."""
    while time.monotonic() < DEADLINE:
        result = driver.execute_script(
            "const last = window.digitsLast;"
            "return last && last.version === window.digitsVersion"
            " ? Object.assign({ png: document.getElementById('pad').toDataURL('image/png') }, last) : null;")
        if result:
            return result
        time.sleep(0.1)
    raise SystemExit("the page never predicted its drawing")


def server_answer(port, body, content_type, path="/predict"):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                     headers={"Content-Type": content_type})
    return json.load(urllib.request.urlopen(request, timeout=30))


def check_digit(driver, port, strokes, kind, expected, name, path="/predict"):
    driver.find_element(By.ID, "clear").click()
    draw(driver, strokes, kind)
    last = final_prediction(driver)
    pixels, answer = last["pixels"], last["answer"]
    shown = driver.find_element(By.ID, "digit").text
    # The page posts its drawing as a PNG; the server answers with the 20x20 it made of it. The same PNG
    # sent here, and that 20x20 sent as JSON, get the same answer.
    png = base64.b64decode(last["png"].split(",", 1)[1])
    direct = server_answer(port, png, "image/png", path + "?include_input=true")
    assert direct == answer, f"the server answers {direct} for the page's PNG, the page got {answer}"
    as_json = server_answer(port, json.dumps({"pixels": pixels}).encode(), "application/json", path)
    assert as_json == {k: v for k, v in answer.items() if k != "input"}, f"as JSON: {as_json}, the page: {answer}"
    assert shown == str(answer["predicted_class"]), f"the page shows {shown!r} for {answer}"
    assert answer["predicted_class"] == expected, f"the drawn {expected} was read as {answer}"
    bars = len(driver.find_elements(By.CSS_SELECTOR, "#bars .bar"))
    assert bars == (10 if "probabilities" in answer else 1), f"{bars} probability bars"
    drawn = driver.execute_script("return window.digitsStrokes;")
    difference = np.abs(np.array(pixels) - reference([[(p["x"], p["y"]) for p in stroke] for stroke in drawn]))
    print(f"  {name} ({kind}): the page shows {shown}, as the server answers ({answer['probability']:.4f}); "
          f"page vs reference image: max difference {difference.max():.3f}, mean {difference.mean():.4f}")
    assert difference.max() <= 0.05 and difference.mean() <= 0.005, "the page's image differs from the reference"


def browser():
    options = Options()
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]:
        options.add_argument(argument)
    options.binary_location = "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def main():
    os.makedirs(SCREENSHOTS, exist_ok=True)
    driver = browser()
    servers = []
    try:
        server, port = start_server("binary")
        servers.append(server)
        driver.get(f"http://127.0.0.1:{port}/")
        while "Model binary" not in driver.find_element(By.ID, "model-line").text:
            assert time.monotonic() < DEADLINE, "the page did not load the model"
            time.sleep(0.1)
        assert len(driver.find_elements(By.CSS_SELECTOR, "#confusion td")) == 4
        # The page loads with an empty console: no failed request (a missing /favicon.ico was one), no error.
        errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
        assert not errors, f"the page's console shows errors: {errors}"
        print("the page loaded with an empty console (its icon is inline)")
        print("binary model:")
        check_digit(driver, port, ONE, "mouse", 1, "a one")
        check_digit(driver, port, ZERO, "touch", 0, "a zero")
        driver.save_screenshot(os.path.join(SCREENSHOTS, "binary-desktop.png"))
        # A phone's width, tall enough to hold the whole page in one screenshot.
        driver.set_window_size(390, 1700)
        time.sleep(0.5)
        width = driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, f"the phone layout scrolls sideways ({width} px)"
        driver.save_screenshot(os.path.join(SCREENSHOTS, "binary-phone.png"))
        driver.set_window_size(1280, 900)

        server.terminate()
        server.wait(timeout=30)
        driver.find_element(By.ID, "clear").click()
        draw(driver, ONE, "mouse")
        status = ""
        while "cannot be reached" not in status:
            assert time.monotonic() < DEADLINE, f"no message when the server is gone: {status!r}"
            time.sleep(0.1)
            status = driver.find_element(By.ID, "status").text
        print(f"  server gone: the page says {status!r}")
        # The refused connection is in the console, as it should be; nothing after it may be.
        driver.get_log("browser")

        server, port = start_server("ten-class")
        servers.append(server)
        driver.get(f"http://127.0.0.1:{port}/")
        while "Model ten-class" not in driver.find_element(By.ID, "model-line").text:
            assert time.monotonic() < DEADLINE, "the page did not load the model"
            time.sleep(0.1)
        assert len(driver.find_elements(By.CSS_SELECTOR, "#confusion td")) == 100
        print("ten-class model:")
        check_digit(driver, port, SEVEN, "pen", 7, "a seven")
        driver.save_screenshot(os.path.join(SCREENSHOTS, "ten-class-desktop.png"))
        driver.set_window_size(390, 2100)
        time.sleep(0.5)
        driver.save_screenshot(os.path.join(SCREENSHOTS, "ten-class-phone.png"))
        server.terminate()
        server.wait(timeout=30)

        # The whole repository: the chooser lists every model, binary (the default) first chosen.
        server, port = start_server(None)
        servers.append(server)
        driver.set_window_size(1280, 900)
        driver.get(f"http://127.0.0.1:{port}/")
        while "Model binary" not in driver.find_element(By.ID, "model-line").text:
            assert time.monotonic() < DEADLINE, "the page did not load the default model"
            time.sleep(0.1)
        choice = Select(driver.find_element(By.ID, "model-choice"))
        names = [o.get_attribute("value") for o in choice.options]
        assert names == ["binary", "binary-int8", "ten-class", "ten-class-int8"], names
        choice.select_by_value("ten-class")
        while "Model ten-class, version 2" not in driver.find_element(By.ID, "model-line").text:
            assert time.monotonic() < DEADLINE, "choosing ten-class did not load it"
            time.sleep(0.1)
        print("repository: the page lists every model; ten-class (version 2, the CNN) chosen:")
        check_digit(driver, port, SEVEN, "pen", 7, "a seven", path="/models/ten-class/predict")
        errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
        assert not errors, f"the console shows errors after drawing: {errors}"
        print("the console stayed empty through every drawing sent as a PNG")
        print(f"screenshots in {SCREENSHOTS}: {sorted(os.listdir(SCREENSHOTS))}")
    finally:
        driver.quit()
        for server in servers:
            if server.poll() is None:
                server.terminate()


main()
