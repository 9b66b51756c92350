"""Errors about a user's dataset: the message names the image or file and what to fix."""


class DatasetError(ValueError):
    """Bad dataset input: the message names the image or file and what to fix."""


class AnnotationError(ValueError):
    """A dataset's load_mask returned something unusable."""
