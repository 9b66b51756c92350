"""Flask blueprint: GET / (page), GET /health, GET /model, POST /predict.

Mount it on any Flask app: ``app.register_blueprint(create_blueprint(predictor), url_prefix=...)``.
Settings are read from the app config at request time: MAX_PIXELS (default 25 MP),
MAX_CONTENT_LENGTH (default 10 MB when the app sets none) and API_TOKEN (else env MRCNN_API_TOKEN).
"""

import hmac
import math
import os
import threading
from pathlib import Path

import numpy as np
from flask import Blueprint, current_app, jsonify, make_response, render_template_string, request, url_for

from mrcnn.inference.mold import ImageError

from .errors import ApiError, error_response, register_error_handlers
from .imageio import ALLOWED_CONTENT_TYPES, DEFAULT_MAX_PIXELS, decode_image
from .openapi import openapi_document
from .predictor import WeightsError
from .results import MASK_FORMATS, as_base64, build_response, filter_by_score

DEFAULT_MAX_CONTENT_LENGTH = 10 * 1024 * 1024
MAX_BATCH_IMAGES = 8  # multipart 'image' parts per /predict request; 413 above
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

    readiness = _Readiness(predictor)

    @bp.get("/health")
    def health():
        return jsonify(status="ok")

    @bp.get("/ready")
    def ready():
        readiness.check()
        return jsonify(status="ready")

    @bp.get("/openapi.json")
    def openapi():
        return jsonify(openapi_document(url_for(".health")[: -len("/health")]))

    @bp.get("/model")
    def model_info():
        _require_token(api_token)
        return jsonify(predictor.info())

    @bp.post("/predict")
    def predict():
        _require_token(api_token)
        threshold = _score_threshold()
        body_format = _response_format()
        mask_format = _choice("masks", MASK_FORMATS, "rle")
        overlay = _choice("overlay", ("png", "jpeg", "none"), "png")
        max_pixels = int(current_app.config.get("MAX_PIXELS") or DEFAULT_MAX_PIXELS)
        images = [_check_side(decode_image(data, max_pixels)) for data in _read_images()]
        if body_format != "json" and len(images) > 1:
            raise ApiError(400, f"format={body_format} answers one image; send one, or use format=json")
        results, inference_ms = predictor.detect_batch(images)
        readiness.ready = True
        replies = []
        for image, result in zip(images, results):
            drawn_as = body_format if body_format != "json" else overlay
            body, drawn = build_response(
                image, filter_by_score(result, threshold), predictor.class_names, inference_ms, mask_format, drawn_as
            )
            if body_format != "json":
                return _image_response(body, drawn, body_format)
            if drawn is not None:
                body[f"overlay_{overlay}"] = as_base64(drawn)
            replies.append(body)
        if len(replies) == 1:
            return jsonify(replies[0])
        return jsonify(results=replies, inference_ms=round(inference_ms, 1))

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


def _choice(name, allowed, default):
    """The query parameter `name`, lower-cased, one of `allowed` (400 otherwise)."""
    value = request.args.get(name, default).lower()
    if value not in allowed:
        raise ApiError(400, f"{name} must be one of {', '.join(allowed)}; got {request.args[name]!r}")
    return value


def _response_format():
    """json, png or jpeg: from ?format=, else from the Accept header (JSON unless an image is preferred)."""
    if "format" in request.args:
        return _choice("format", ("json", "png", "jpeg"), "json")
    best = request.accept_mimetypes.best_match(["application/json", "image/png", "image/jpeg"])
    return {"image/png": "png", "image/jpeg": "jpeg"}.get(best, "json")


class _Readiness:
    """GET /ready: 503 until the model has answered once; the first check runs a tiny detect()."""

    def __init__(self, predictor):
        self.predictor = predictor
        self.ready = False
        self.error = None
        self._thread = None
        self._lock = threading.Lock()

    def check(self, wait=1.0):
        if not self.ready:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._warm_up, daemon=True)
                    self._thread.start()
                thread = self._thread
            thread.join(wait)
        if not self.ready:
            reason = f"cannot load: {self.error}" if self.error else "the model is loading"
            raise ApiError(503, f"model not ready: {reason}", {"Retry-After": "5"})

    def _warm_up(self):
        try:
            self.predictor.detect(np.zeros((64, 64, 3), np.uint8))
            self.ready = True
        except Exception as error:  # reported by /ready; /predict reports it again
            self.error = f"{type(error).__name__}: {error}"
            with self._lock:
                self._thread = None


def _read_images():
    """The uploads: multipart fields 'image' (1 to MAX_BATCH_IMAGES), or a raw body with an image/* Content-Type."""
    if request.mimetype == "multipart/form-data":
        uploads = request.files.getlist("image")
        if not uploads:
            raise ApiError(400, "no file: send the image in the multipart field 'image'")
        if len(uploads) > MAX_BATCH_IMAGES:
            raise ApiError(413, f"{len(uploads)} images in one request; the limit is {MAX_BATCH_IMAGES}")
        return [_upload_bytes(upload) for upload in uploads]
    return [_read_image_bytes()]


def _upload_bytes(upload):
    data = upload.read()
    if not data:
        raise ApiError(400, f"the uploaded file 'image' ({upload.filename or 'no name'}) is empty")
    return data


def _read_image_bytes():
    """A raw body with an image/* Content-Type."""
    mimetype = request.mimetype
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


def _image_response(body, drawn, fmt):
    response = make_response(drawn)
    response.mimetype = f"image/{fmt}"
    response.headers["X-Masked-Percent"] = f"{body['masked_percent']:.4f}"
    response.headers["X-Unmasked-Percent"] = f"{body['unmasked_percent']:.4f}"
    response.headers["X-Instances"] = str(len(body["instances"]))
    response.headers["X-Inference-Ms"] = f"{body['inference_ms']:.1f}"
    response.headers["X-Image-Size"] = f"{body['image_size']['width']}x{body['image_size']['height']}"
    return response
