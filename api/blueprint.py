"""Flask blueprint: GET / (page), GET /health, GET /model, POST /predict.

Mount it on any Flask app: ``app.register_blueprint(create_blueprint(predictor), url_prefix=...)``.
Settings are read from the app config at request time: MAX_PIXELS (default 25 MP),
MAX_CONTENT_LENGTH (default 10 MB when the app sets none) and API_TOKEN (else env MRCNN_API_TOKEN).
"""

import hmac
import math
import os
from pathlib import Path

from flask import Blueprint, current_app, jsonify, make_response, render_template_string, request, url_for

from mrcnn.inference.mold import ImageError

from .errors import ApiError, error_response, register_error_handlers
from .imageio import ALLOWED_CONTENT_TYPES, DEFAULT_MAX_PIXELS, decode_image
from .predictor import WeightsError
from .results import build_response, filter_by_score, png_base64

DEFAULT_MAX_CONTENT_LENGTH = 10 * 1024 * 1024
MIN_SIDE = 2  # smallest image side served, in pixels (the model's own check refuses less)
TOKEN_ENV = "MRCNN_API_TOKEN"
_PAGE = Path(__file__).with_name("templates") / "index.html"


def create_blueprint(predictor, api_token=None, name="mrcnn_api"):
    """A blueprint serving `predictor` (api.Predictor). api_token overrides the app config/env."""
    bp = Blueprint(name, __name__)
    register_error_handlers(bp)
    bp.register_error_handler(WeightsError, lambda e: error_response(503, f"model unavailable: {e}"))
    bp.register_error_handler(ImageError, lambda e: error_response(422, f"the model refused the image: {e}"))

    @bp.before_request
    def _limit_body():
        """413 from the Content-Length header, before any of the body is read."""
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        if limit is None:
            limit = request.max_content_length = DEFAULT_MAX_CONTENT_LENGTH
        if request.content_length is not None and request.content_length > limit:
            raise ApiError(413, f"the request body has {request.content_length} bytes; the limit is {limit} bytes")

    @bp.get("/")
    def index():
        page = _PAGE.read_text(encoding="utf-8")
        return render_template_string(page, predict_url=url_for(".predict"), model_url=url_for(".model_info"))

    @bp.get("/health")
    def health():
        return jsonify(status="ok")

    @bp.get("/model")
    def model_info():
        _require_token(api_token)
        return jsonify(predictor.info())

    @bp.post("/predict")
    def predict():
        _require_token(api_token)
        threshold = _score_threshold()
        as_png = _wants_png()
        max_pixels = int(current_app.config.get("MAX_PIXELS") or DEFAULT_MAX_PIXELS)
        image = _check_side(decode_image(_read_image_bytes(), max_pixels))
        result, inference_ms = predictor.detect(image)
        result = filter_by_score(result, threshold)
        body, png = build_response(image, result, predictor.class_names, inference_ms)
        if as_png:
            return _png_response(body, png)
        body["overlay_png"] = png_base64(png)
        return jsonify(body)

    return bp


def _require_token(explicit):
    """401 unless the request carries `Authorization: Bearer <token>` when a token is configured."""
    token = explicit or current_app.config.get("API_TOKEN") or os.environ.get(TOKEN_ENV)
    if not token:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="mrcnn"'}
    if scheme.lower() != "bearer" or not given.strip():
        raise ApiError(401, "missing bearer token: send 'Authorization: Bearer <token>'", challenge)
    if not hmac.compare_digest(given.strip().encode("utf-8"), str(token).encode("utf-8")):
        raise ApiError(401, "invalid bearer token", challenge)


def _check_side(image):
    """422 for an image with a side under MIN_SIDE pixels, before it reaches the model."""
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ApiError(422, f"the image is {width}x{height}; both sides must be at least {MIN_SIDE} pixels")
    return image


def _score_threshold():
    raw = request.args.get("score_threshold")
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ApiError(400, f"score_threshold must be a number in [0, 1], got {raw!r}")
    return value


def _wants_png():
    fmt = request.args.get("format")
    if fmt is not None:
        if fmt.lower() not in ("json", "png"):
            raise ApiError(400, f"format must be 'json' or 'png', got {fmt!r}")
        return fmt.lower() == "png"
    best = request.accept_mimetypes.best_match(["application/json", "image/png"])
    return best == "image/png"


def _read_image_bytes():
    """The upload: multipart field 'image', or a raw body with an image/* Content-Type."""
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        upload = request.files.get("image")
        if upload is None:
            raise ApiError(400, "no file: send the image in the multipart field 'image'")
        data = upload.read()
        if not data:
            raise ApiError(400, "the uploaded file 'image' is empty")
        return data
    if not mimetype:
        if not request.get_data(cache=False):
            raise ApiError(400, "no image: POST multipart field 'image' or a raw body with Content-Type image/*")
        raise ApiError(415, "missing Content-Type: use multipart/form-data or image/jpeg, image/png, ...")
    if mimetype not in ALLOWED_CONTENT_TYPES:
        allowed = ", ".join(sorted(ALLOWED_CONTENT_TYPES))
        raise ApiError(415, f"unsupported Content-Type {mimetype!r}; use multipart/form-data or one of {allowed}")
    data = request.get_data(cache=False)
    if not data:
        raise ApiError(400, "the request body is empty; send the image bytes")
    return data


def _png_response(body, png):
    response = make_response(png)
    response.mimetype = "image/png"
    response.headers["X-Masked-Percent"] = f"{body['masked_percent']:.4f}"
    response.headers["X-Unmasked-Percent"] = f"{body['unmasked_percent']:.4f}"
    response.headers["X-Instances"] = str(len(body["instances"]))
    response.headers["X-Inference-Ms"] = f"{body['inference_ms']:.1f}"
    response.headers["X-Image-Size"] = f"{body['image_size']['width']}x{body['image_size']['height']}"
    return response
