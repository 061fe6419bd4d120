"""The playground page in a real browser: Playwright driving Debian's Chromium against the real server.

Screenshots of every scenario are saved under test-artifacts/playground/.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright
from tests_support import REPO

from training.data import cifar10, flickr8k

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts" / "playground"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} not found: the browser tests need Debian's Chromium (make test installs it)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, server, request) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    external: list[str] = []
    pg.on("request", lambda r: external.append(r.url) if is_external(r.url, server.url) else None)
    pg.goto(server.url + "/")
    yield pg
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not external, f"the page fetched outside resources: {external}"


def is_external(url: str, own: str) -> bool:
    return url.startswith(("http://", "https://", "ws://", "wss://")) and not url.startswith(own)


def draw(page: Page, strokes: list[list[tuple[float, float]]]) -> None:
    """Draw strokes given in 0..1 canvas coordinates, point by point, like a user with a mouse."""
    box = page.locator("#digit-canvas").bounding_box()
    assert box is not None
    for stroke in strokes:
        x0, y0 = stroke[0]
        page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=4)
        page.mouse.up()


def line(a: tuple[float, float], b: tuple[float, float], n: int = 12) -> list[tuple[float, float]]:
    return [(a[0] + (b[0] - a[0]) * i / n, a[1] + (b[1] - a[1]) * i / n) for i in range(n + 1)]


DIGITS = {
    "1": [line((0.5, 0.18), (0.5, 0.82))],
    "7": [line((0.28, 0.2), (0.72, 0.2)), line((0.72, 0.2), (0.42, 0.82))],
    "0": [
        [(0.5 + 0.2 * math.cos(t / 24 * 2 * math.pi), 0.5 + 0.3 * math.sin(t / 24 * 2 * math.pi)) for t in range(25)]
    ],
}


@pytest.mark.parametrize("digit", sorted(DIGITS))
def test_draw_a_digit_and_see_it_predicted(page, digit):
    draw(page, DIGITS[digit])
    page.wait_for_load_state("networkidle")  # the last drawing's prediction has come back
    expect(page.locator("#digit-prediction")).to_contain_text(f"{digit} (", timeout=15_000)
    bars = page.locator("#digit-bars .bar-row")
    expect(bars).to_have_count(10)
    top = page.locator("#digit-bars .bar-row.top")
    assert top.get_attribute("data-label") == digit
    page.click("#digit-clear")
    expect(page.locator("#digit-prediction")).to_have_text("none yet")


def test_clear_drops_a_prediction_still_on_its_way(page):
    """The drawing's request is held until after Clear: its answer must not bring the old digit back."""
    held = []
    page.route("**/v1/classify*", lambda route: held.append(route))
    draw(page, DIGITS["1"])
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "drawing sent no classify request"
    page.click("#digit-clear")
    for route in held:
        route.continue_()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)  # the answer has been handled
    expect(page.locator("#digit-prediction")).to_have_text("none yet")
    expect(page.locator("#digit-bars .bar-row")).to_have_count(0)


def test_upload_a_photo_and_see_its_caption(page, data_dir):
    name = flickr8k.load_split(data_dir, "test").names[0]
    page.set_input_files("#photo-file", str(flickr8k.root(data_dir) / "images" / name))
    page.click("#photo-submit")
    caption = page.locator("#photo-caption")
    expect(caption).not_to_have_text("…", timeout=30_000)
    assert len(caption.inner_text().split()) >= 3
    expect(page.locator("#photo-alternatives li")).to_have_count(3)
    assert page.locator("#photos-error").is_hidden()


def test_translate_and_see_the_attention_heatmap(page):
    page.fill("#translate-text", "Two dogs are playing in the snow.")
    page.select_option("#translate-target", "de")
    page.click("#translate-submit")
    table = page.locator("#translate-heatmap")
    expect(table).to_be_visible(timeout=30_000)
    assert page.locator("#translate-output").inner_text().strip()
    rows, cols = int(table.get_attribute("data-rows")), int(table.get_attribute("data-cols"))
    assert rows >= 3 and cols >= 7  # "Two dogs are playing in the snow ." is at least 8 subwords
    expect(table.locator("tbody tr")).to_have_count(rows)
    expect(table.locator("thead th")).to_have_count(cols)
    assert table.locator("tbody tr").first.locator("td").count() == cols


def test_generated_text_streams_in(page):
    page.fill("#generate-prompt", "ROMEO:")
    page.fill("#generate-length", "1500")
    # Record the output's length at every DOM update: streamed text arrives in many growing pieces.
    page.evaluate(
        """() => {
        const out = document.getElementById("generate-output");
        window.lengths = [];
        new MutationObserver(() => window.lengths.push(out.textContent.length))
          .observe(out, {childList: true, characterData: true, subtree: true});
    }"""
    )
    page.click("#generate-submit")
    done = "window.lengths.length > 0 && document.getElementById('generate-stop').disabled"
    page.wait_for_function(done, timeout=60_000)  # text arrived and the stream ended
    lengths = page.evaluate("window.lengths")
    final = len(page.locator("#generate-output").inner_text())
    assert final >= 1000
    growing = [n for n in lengths if n > len("ROMEO:")]
    assert growing == sorted(growing), "text only grows while it streams"
    assert len(set(growing)) >= 10, f"text should arrive piece by piece, saw lengths {lengths}"


def test_classify_a_photo_and_see_the_top_five(page, data_dir, tmp_path):
    test = cifar10.load_split(data_dir, "test")
    ship = int(np.flatnonzero(test.labels == cifar10.CLASSES.index("ship"))[0])
    photo = tmp_path / "ship.jpg"  # a user's photo: larger than the training images, JPEG
    Image.fromarray(test.images[ship]).resize((160, 160), Image.Resampling.BICUBIC).save(photo, quality=92)
    page.set_input_files("#classify-file", str(photo))
    with page.expect_request(lambda r: "/v1/classify" in r.url) as sent:
        page.click("#classify-submit")
    assert "model=alexnet-cifar10" in sent.value.url and "top_k=5" in sent.value.url
    expect(page.locator("#classify-prediction")).to_contain_text("ship (", timeout=15_000)
    bars = page.locator("#classify-bars .bar-row")
    expect(bars).to_have_count(5)
    probabilities = [float(bars.nth(i).get_attribute("data-probability")) for i in range(5)]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0001
    assert page.locator("#classify-bars .bar-row.top").get_attribute("data-label") == "ship"
    page.select_option("#classify-model", "lenet5-mnist")  # any classifier: the digit model reads it as a digit
    with page.expect_request(lambda r: "/v1/classify" in r.url) as sent:
        page.click("#classify-submit")
    assert "model=lenet5-mnist" in sent.value.url
    expect(page.locator("#classify-bars .bar-row")).to_have_count(5)
    expect(page.locator("#classify-bars .bar-row.top")).to_have_attribute("data-label", re.compile(r"^[0-9]$"))


def test_api_errors_are_shown(page, tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("this is not an image")
    page.set_input_files("#photo-file", str(notes))
    page.click("#photo-submit")
    error = page.locator("#photos-error")
    expect(error).to_be_visible(timeout=15_000)
    expect(error).to_contain_text("422")
    expect(error).to_contain_text("notes.png: not a recognised image format")


def test_models_table_and_training_curves(page):
    rows = page.locator("#models-table tbody tr")
    expect(rows.first).to_be_visible(timeout=15_000)
    names = [rows.nth(i).get_attribute("data-model") for i in range(rows.count())]
    assert {"lenet5-mnist", "charlstm-shakespeare", "gru-en-fr", "gru-en-de", "captioner-flickr8k"} <= set(names)
    expect(page.locator("#models-table tbody")).to_contain_text("ready")
    expect(page.locator("#models-table tbody")).to_contain_text("CPUExecutionProvider")
    details = page.locator("#models-curves details")
    details.first.locator("summary").click()
    img = details.first.locator("img")
    expect(img).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())


def test_each_panel_names_the_model_it_calls(page):
    for select, model, served in (("#digit-model", "lenet5-mnist", 2), ("#classify-model", "alexnet-cifar10", 2),
                                  ("#photo-model", "captioner-flickr8k", 1),
                                  ("#generate-model", "charlstm-shakespeare", 1)):  # fmt: skip
        expect(page.locator(select)).to_have_value(model)
        expect(page.locator(f"{select} option")).to_have_count(served)  # every ready model of the panel's task
    with page.expect_request(lambda r: "/v1/classify" in r.url) as sent:
        draw(page, DIGITS["1"])
    assert "model=lenet5-mnist" in sent.value.url


def test_keyboard_reaches_every_control(page):
    seen = set()
    for _ in range(80):
        page.keyboard.press("Tab")
        seen.add(page.evaluate("document.activeElement.id"))
    assert {
        "digit-clear",
        "digit-model",
        "photo-model",
        "photo-file",
        "classify-model",
        "classify-file",
        "classify-submit",
        "generate-model",
        "translate-text",
        "translate-submit",
        "generate-submit",
        "models-refresh",
    } <= seen
