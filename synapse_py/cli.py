"""synapse-py command line (placeholder until the synapse issue lands)."""

import sys


def main() -> None:
    print("synapse-py: not yet implemented", file=sys.stderr)
    sys.exit(1)
