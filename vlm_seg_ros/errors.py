"""The package's exception hierarchy: catch ``VlmSegError`` to catch them all."""


class VlmSegError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidInputError(VlmSegError, ValueError):
    """An input (array, message, parameter) is malformed; the message says what and how."""


class TransformUnavailableError(VlmSegError):
    """No transform between two frames at the requested stamps; the message names both."""
