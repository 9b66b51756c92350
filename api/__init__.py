"""HTTP API for Mask R-CNN: a Flask blueprint, an app factory and a thread-safe predictor.

    from mrcnn_api import create_app
    app = create_app({"WEIGHTS": "api/weights/balloon_mobilenet.h5"})

See api/README.md for routes, the JSON schema, limits and error codes.
"""

import os

# The server's stderr is for its own messages: TensorFlow's C++ start-up notices (oneDNN, CPU features) stay
# hidden unless the user sets TF_CPP_MIN_LOG_LEVEL. This must run before .app imports TensorFlow.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .app import DEFAULT_WEIGHTS, create_app
from .blueprint import create_blueprint
from .errors import ApiError
from .predictor import Predictor, WeightsError

__all__ = ["create_app", "create_blueprint", "Predictor", "WeightsError", "ApiError", "DEFAULT_WEIGHTS"]
