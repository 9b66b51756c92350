"""The weights the API serves by default load on their own and find balloons."""

import io
from pathlib import Path

import pytest
from mrcnn_api import DEFAULT_WEIGHTS, create_app

BALLOON_VAL = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "balloon" / "val"


@pytest.mark.slow
@pytest.mark.skipif(not BALLOON_VAL.is_dir(), reason="needs ../shared/datasets/balloon")
def test_default_app_serves_the_bundled_balloon_model():
    assert Path(DEFAULT_WEIGHTS).is_file()
    client = create_app().test_client()
    info = client.get("/model").get_json()
    assert info["classes"] == ["BG", "balloon"] and info["backbone"] == "mobilenet_v1"
    image = (BALLOON_VAL / "3825919971_93fb1ec581_b.jpg").read_bytes()
    reply = client.post("/predict", data={"image": (io.BytesIO(image), "b.jpg")}, content_type="multipart/form-data")
    body = reply.get_json()
    assert reply.status_code == 200
    assert len(body["instances"]) >= 5  # 7 balloons in this val image; the model keeps 7 detections (6 right) at 0.5
    assert {i["class_name"] for i in body["instances"]} == {"balloon"}
    assert 5 < body["masked_percent"] < 30
