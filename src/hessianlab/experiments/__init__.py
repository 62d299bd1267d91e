"""Experiments: the run store (one directory per run) and its SQLite catalog.

Public API::

    RunDir.create(path, config, data_meta) / RunDir.open(path)
    Catalog(root)                     runs and results of every run below ``root``
    reindex(root)                     rebuild a catalog from the run directories
"""

from hessianlab.experiments.catalog import Catalog
from hessianlab.experiments.store import RunDir, reindex

__all__ = ["Catalog", "RunDir", "reindex"]
