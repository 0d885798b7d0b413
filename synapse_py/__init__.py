"""synapse_py: the SmartStack discovery daemon."""

__version__ = "0.1.0"
