"""HTTP API for Mask R-CNN: a Flask blueprint, an app factory and a thread-safe predictor.

    from api import create_app
    app = create_app({"WEIGHTS": "api/weights/balloon_mobilenet.h5"})

See api/README.md for routes, the JSON schema, limits and error codes.
"""
from api.app import DEFAULT_WEIGHTS, create_app
from api.blueprint import create_blueprint
from api.errors import ApiError
from api.predictor import Predictor, WeightsError

__all__ = ["create_app", "create_blueprint", "Predictor", "WeightsError", "ApiError", "DEFAULT_WEIGHTS"]
