"""nerve_py: the SmartStack registration daemon."""

__version__ = "0.1.0"
