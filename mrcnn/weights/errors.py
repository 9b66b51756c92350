"""The weights-file error, importable without TensorFlow (the CLI catches it before any model is built)."""


class WeightsFileError(ValueError):
    """A weights file is missing, unreadable or does not fit the model."""
