"""App factory: ``create_app(config)`` -> a Flask app serving the Mask R-CNN blueprint at /."""

from pathlib import Path

from flask import Flask

from .blueprint import DEFAULT_MAX_CONTENT_LENGTH, create_blueprint
from .errors import register_error_handlers
from .imageio import DEFAULT_MAX_PIXELS
from .predictor import Predictor

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "balloon_mobilenet.h5"

DEFAULTS = {
    "WEIGHTS": str(DEFAULT_WEIGHTS),  # .h5 file for MaskRCNN.from_weights
    "MODEL": None,  # a ready model object (used instead of WEIGHTS), e.g. a test stub
    "LAZY_LOAD": False,  # True: load the weights on the first request instead of now
    "MAX_CONTENT_LENGTH": DEFAULT_MAX_CONTENT_LENGTH,  # bytes per request -> 413 above
    "MAX_HEADER_BYTES": 64 * 1024,  # request line + headers; waitress answers 431 above (api/server.py)
    "MAX_PIXELS": DEFAULT_MAX_PIXELS,  # width * height -> 413 above, checked before decoding
    "API_TOKEN": None,  # bearer token for /predict and /model (else env MRCNN_API_TOKEN)
}


def create_app(config=None, predictor=None):
    """A Flask app with the blueprint at / and JSON errors for every status.

    config: a dict or an object with upper-case attributes (keys as in DEFAULTS plus any Flask
    setting). predictor: an api.Predictor to use instead of building one from MODEL / WEIGHTS.
    Raises api.predictor.WeightsError when the weights cannot be loaded (unless LAZY_LOAD).
    """
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    if predictor is None:
        source = app.config["MODEL"] if app.config["MODEL"] is not None else app.config["WEIGHTS"]
        predictor = Predictor(source, lazy=bool(app.config["LAZY_LOAD"]))
    app.extensions["mrcnn_predictor"] = predictor
    register_error_handlers(app)
    app.register_blueprint(create_blueprint(predictor))
    return app
