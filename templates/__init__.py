"""Jinja2 templates for synapse_py; this marker lets `pip install .` ship them as package data."""
