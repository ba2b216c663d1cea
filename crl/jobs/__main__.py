"""`python -m crl.jobs RUN_DIR` runs one training job; `--stop RUN_DIR` stops one."""

import sys

from crl.jobs.jobs import main

sys.exit(main())
