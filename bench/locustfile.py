"""Mixed traffic over the four tasks for the soak (`python -m bench.soak`), run by locust headless.

Each simulated user sends requests back to back (no think time): classify (4 MNIST test digits as base64 PNGs),
translate to French or German (beam 4), generate (50 tokens) and caption (a Flickr8k test photo). Every completed
request is recorded as (task, status, milliseconds); when locust quits, the records are written as JSON to
$SOAK_RECORDS for bench.soak to summarize. Needs $DLSERVE_DATA (the datasets folder).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import random
import time
from pathlib import Path

import numpy as np
from locust import HttpUser, constant, events, task
from PIL import Image

DATA = Path(os.environ["DLSERVE_DATA"])
RECORDS: list[tuple[str, int, float]] = []
SENTENCES = [
    "A man in an orange hat starring at something.",
    "Two young children are playing with a ball on the grass.",
    "A woman in a red dress is singing on a stage.",
    "A dog runs through the snow.",
    "People are walking down a busy city street.",
]


def digit_bodies(n: int = 16) -> list[dict]:
    with gzip.open(DATA / "mnist" / "t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[: n * 4]
    encoded = []
    for image in images:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG")
        encoded.append(base64.b64encode(buf.getvalue()).decode())
    return [{"images": encoded[i : i + 4]} for i in range(0, len(encoded), 4)]


def photos(n: int = 8) -> list[tuple[str, bytes]]:
    root = DATA / "flickr8k"
    names = (root / "Flickr_8k.testImages.txt").read_text().split()[:n]
    return [(name, (root / "images" / name).read_bytes()) for name in names]


DIGITS, PHOTOS = digit_bodies(), photos()


class Client(HttpUser):
    wait_time = constant(0)

    def record(self, task_name: str, method: str, path: str, **kwargs) -> None:
        started = time.perf_counter()
        with self.client.request(method, path, name=task_name, catch_response=True, **kwargs) as r:
            RECORDS.append((task_name, r.status_code, (time.perf_counter() - started) * 1000))
            if r.status_code == 429:
                r.success()  # admission control doing its job: counted, not a failure

    @task(4)
    def classify(self) -> None:
        self.record("classify", "POST", "/v1/classify", json=random.choice(DIGITS))

    @task(2)
    def translate_fr(self) -> None:
        body = {"texts": random.sample(SENTENCES, 2), "target": "fr", "beam_size": 4}
        self.record("translate-fr", "POST", "/v1/translate", json=body)

    @task(2)
    def translate_de(self) -> None:
        body = {"texts": random.sample(SENTENCES, 2), "target": "de", "beam_size": 4}
        self.record("translate-de", "POST", "/v1/translate", json=body)

    @task(2)
    def generate(self) -> None:
        body = {"prompt": random.choice(["ROMEO:", "JULIET:\n", "First Citizen:"]), "max_tokens": 50}
        self.record("generate", "POST", "/v1/generate", json=body)

    @task(1)
    def caption(self) -> None:
        name, jpeg = random.choice(PHOTOS)
        self.record("caption", "POST", "/v1/caption", files=[("files", (name, jpeg, "image/jpeg"))])


@events.quitting.add_listener
def write_records(environment, **kwargs) -> None:
    Path(os.environ["SOAK_RECORDS"]).write_text(json.dumps(RECORDS))
