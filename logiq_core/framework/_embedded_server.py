"""Child-process entry point for the embedded nx-27017 server.

nx-27017 logs every command at INFO; Logiq keeps only its warnings, so the log in the data
directory stays small and readable. Arguments are passed through unchanged.
"""

import logging
import sys

from nx_27017.nx_27017 import main

if __name__ == "__main__":
    logging.getLogger("nx_27017").setLevel(logging.WARNING)
    sys.exit(main())
