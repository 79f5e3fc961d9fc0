"""What the .ci/check-*.py scripts share: how a check ends."""

import sys


def finish(errors, success):
    """Prints every error and exits 1 when there is any; otherwise prints the success line."""
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        sys.exit(1)
    print(success)
