"""``python -m hessianlab`` (and ``torchrun -m hessianlab``) runs the CLI."""

import sys

from hessianlab.cli import main

sys.exit(main())
