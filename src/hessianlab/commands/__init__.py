"""Sub-commands of the ``hessianlab`` CLI (one module each, see :mod:`hessianlab.cli`)."""
