"""`python -m crl.cli` (what torchrun launches on every GPU) runs the `crl` command."""

import sys

from crl.cli.main import main

sys.exit(main())
