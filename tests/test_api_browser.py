"""Headless Chromium drives the page served by the real server (stub model): upload, see the result.

Needs Debian's chromium and chromium-driver. Skipped when they are missing, except under CI=true,
where a missing browser is a failure. The screenshot goes to tmp_path; the README's picture
(docs/api_page.png, real model) is made by docs/make_api_page_png.py with the same helpers.
"""

import os

import numpy as np
import pytest
from mrcnn_api.testing import run_stub_server
from PIL import Image, ImageDraw
from scripts import load_script

page = load_script("docs/make_api_page_png.py")


def balloon_scene(path, width=480, height=360):
    """A sky gradient with a few coloured balloons, saved as JPEG."""
    sky = np.linspace([120, 170, 235], [215, 235, 255], height).astype(np.uint8)
    image = Image.fromarray(np.repeat(sky[:, None, :], width, axis=1))
    draw = ImageDraw.Draw(image)
    for cx, cy, r, color in [
        (120, 110, 55, (220, 40, 60)),
        (250, 170, 65, (250, 190, 30)),
        (380, 120, 50, (60, 120, 220)),
    ]:
        draw.ellipse((cx - r, cy - r * 1.2, cx + r, cy + r * 1.2), fill=color)
        draw.line((cx, cy + r * 1.2, cx + 8, height), fill=(80, 80, 80), width=2)
    image.save(path, format="JPEG", quality=92)
    return path


@pytest.fixture
def driver(tmp_path):
    missing = page.missing_browser()
    if missing:
        reason = f"browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with page.browser(tmp_path / "chromium-profile") as browser:
        yield browser


def test_upload_shows_overlay_and_percentages(driver, tmp_path):
    from selenium.webdriver.common.by import By

    image_path = balloon_scene(tmp_path / "balloons.jpg")
    with run_stub_server(threads=2, env={"MRCNN_API_TOKEN": ""}) as url:
        page.upload(driver, url, image_path)
        assert "Mask R-CNN" in driver.title
        overlay = driver.find_element(By.ID, "overlay")
        assert overlay.get_attribute("src").startswith("data:image/png;base64,")
        assert driver.execute_script("return document.getElementById('overlay').naturalWidth;") == 480
        # The stub's two overlapping squares cover 7/16 of the image.
        assert driver.find_element(By.ID, "masked-percent").text == "43.75 %"
        assert driver.find_element(By.ID, "unmasked-percent").text == "56.25 %"
        rows = driver.find_elements(By.CSS_SELECTOR, "#instances tbody tr")
        assert len(rows) == 2 and "balloon" in rows[0].text
        assert driver.find_element(By.ID, "error").text == ""

        shot = tmp_path / "api_page.png"
        page.screenshot(driver, shot)
    with Image.open(shot) as picture:
        assert picture.format == "PNG" and picture.size[0] >= 480  # The whole overlay fits in the window.
