"""What nerve_py and synapse_py both need: sdnotify, log set-up, ZooKeeper security, the metrics
endpoint, atomic writes and a few command-line helpers.

It imports neither daemon (tests/test_import_boundaries.py). The wire contract is not here on
purpose: nerve_py writes the node and synapse_py reads it, each in its own words, and
tests/contract pins the two against each other.
"""
