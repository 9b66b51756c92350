"""The OpenAPI 3 document served at GET /openapi.json (one entry per route of the blueprint)."""

from importlib.metadata import PackageNotFoundError, version


def _obj(required, **properties):
    return {"type": "object", "required": list(required), "properties": properties}


_NUM, _INT, _STR = {"type": "number"}, {"type": "integer"}, {"type": "string"}
_REF = "#/components/schemas/"

SCHEMAS = {
    "Error": _obj(["error", "code"], error=_STR, code=_INT),
    "Status": _obj(["status"], status=_STR),
    "Model": _obj(
        ["backbone", "classes", "weights_file", "weights_sha256", "config"],
        backbone=_STR,
        classes={"type": "array", "items": _STR},
        weights_file={"type": "string", "nullable": True},
        weights_sha256={"type": "string", "nullable": True},
        config={"type": "object"},
    ),
    "Instance": _obj(
        ["class_id", "class_name", "score", "box", "area"],
        class_id=_INT,
        class_name=_STR,
        score=_NUM,
        box=_obj(["x1", "y1", "x2", "y2"], x1=_INT, y1=_INT, x2=_INT, y2=_INT),
        area=_INT,
        mask={
            **_obj(["size", "counts"], size={"type": "array", "items": _INT}, counts=_STR),
            "description": "masks=rle",
        },
        polygons={
            "type": "array",
            "description": "masks=polygon: outer contours, each a list of [x, y]",
            "items": {"type": "array", "items": {"type": "array", "items": _NUM}},
        },
    ),
    "Prediction": _obj(
        ["instances", "masked_pixels", "total_pixels", "masked_percent", "unmasked_percent", "image_size"]
        + ["inference_ms"],
        instances={"type": "array", "items": {"$ref": _REF + "Instance"}},
        masked_pixels=_INT,
        total_pixels=_INT,
        masked_percent=_NUM,
        unmasked_percent=_NUM,
        image_size=_obj(["width", "height"], width=_INT, height=_INT),
        inference_ms=_NUM,
        overlay_png={"type": "string", "format": "byte", "description": "overlay=png (default)"},
        overlay_jpeg={"type": "string", "format": "byte", "description": "overlay=jpeg"},
    ),
    "Batch": _obj(
        ["results", "inference_ms"],
        results={"type": "array", "items": {"$ref": _REF + "Prediction"}},
        inference_ms=_NUM,
    ),
}


def _json(schema, description):
    return {"description": description, "content": {"application/json": {"schema": {"$ref": _REF + schema}}}}


def _errors(*codes):
    return {str(code): _json("Error", "refused; see api/README.md") for code in codes}


def _query(name, values, description):
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string", "enum": list(values)},
            "description": description}  # fmt: skip


_BEARER = [{"bearer": []}]
_PREDICT = {
    "summary": "Detect instances in one image, or up to 8 (multipart parts named 'image', one detect() call)",
    "security": _BEARER,
    "parameters": [
        {
            "name": "score_threshold",
            "in": "query",
            "required": False,
            "schema": {"type": "number", "minimum": 0, "maximum": 1},
        },
        _query("masks", ("rle", "polygon", "none"), "mask encoding (default rle)"),
        _query("overlay", ("png", "jpeg", "none"), "overlay in the JSON reply (default png)"),
        _query("format", ("json", "png", "jpeg"), "json (default), or the overlay image as the body"),
    ],  # fmt: skip
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": _obj(["image"], image={"type": "array", "items": {"type": "string", "format": "binary"}})
            },
            **{t: {"schema": {"type": "string", "format": "binary"}} for t in ("image/jpeg", "image/png")},
        },
    },
    "responses": {
        "200": {
            "description": "one image: a Prediction; several: a Batch; format=png|jpeg: the overlay image",
            "content": {
                "application/json": {"schema": {"oneOf": [{"$ref": _REF + "Prediction"}, {"$ref": _REF + "Batch"}]}},
                "image/png": {},
                "image/jpeg": {},
            },
        },
        **_errors(400, 401, 413, 415, 422, 431, 500, 503),
    },
}


def _api_version():
    try:
        return version("mrcnn")
    except PackageNotFoundError:
        return "0"


def openapi_document(prefix=""):
    """The OpenAPI 3.0 document, with every path under `prefix` (the blueprint's mount point)."""
    paths = {
        "/": {"get": {"summary": "The upload page", "responses": {"200": {"description": "HTML page"}}}},
        "/health": {"get": {"summary": "Liveness", "responses": {"200": _json("Status", "alive")}}},
        "/ready": {
            "get": {
                "summary": "Readiness: 200 once the model has answered",
                "responses": {"200": _json("Status", "ready"), **_errors(503)},
            }
        },
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3"}}}},
        "/model": {
            "get": {
                "summary": "Model metadata",
                "security": _BEARER,
                "responses": {"200": _json("Model", "the model"), **_errors(401, 503)},
            }
        },
        "/predict": {"post": _PREDICT},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Mask R-CNN API", "version": _api_version()},
        "paths": {prefix + path: item for path, item in paths.items()},
        "components": {"schemas": SCHEMAS, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
