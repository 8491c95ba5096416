"""The one error type of the pure model."""


class NumaError(ValueError):
    """Bad input to the model: the message is one line naming what and why."""
