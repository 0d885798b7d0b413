"""Where the Ruby golden reference is: tests/ruby_reference (a copy of the shared golden reference).

Its README.md says what each file is. RUBY_REFERENCE points elsewhere (e.g. at a newer recording).
"""

import os
from pathlib import Path

ROOT = Path(
    os.environ.get("RUBY_REFERENCE", Path(__file__).resolve().parents[1] / "ruby_reference")
)
