"""The test suite.

The CLI's consoles are made when it is imported, and rich fixes a console's width for good
if ``COLUMNS`` is set at that moment (pytest-xdist's workers have it set): tests pass
``COLUMNS`` per command instead, so it must not be set before the CLI is imported.
"""

import os

os.environ.pop("COLUMNS", None)
