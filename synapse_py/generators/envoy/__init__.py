"""The Envoy generator (`generator.py`) and the files it writes (`files.py`: LDS, CDS, EDS)."""
