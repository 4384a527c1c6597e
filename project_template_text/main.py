"""Project entry point: ``python main.py <command> ...`` is the same as ``runway <command> ...``.

Handy under a debugger or on clusters where console scripts are not on PATH, e.g.::

    python main.py run reviews
    python main.py train reviews --opts train.batch_size=16
"""

import sys

from runway_for_ml.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
