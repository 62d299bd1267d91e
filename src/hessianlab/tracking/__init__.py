"""Curvature tracking for any training loop.

Public API::

    Tracker(model, data, every=N, unit='epoch'|'step', measures=('lambda1', 'trace', 'grad_norm', 'eos'), ...)
    snapshot(model, data, measures, SnapshotSettings(...))   one measurement with certificates
    hessianlab.tracking.lightning.TrackerCallback(tracker)    PyTorch Lightning adapter (needs `lightning`)
"""

from hessianlab.tracking.measures import MEASURES, SnapshotSettings, snapshot
from hessianlab.tracking.tracker import Tracker

__all__ = ["MEASURES", "SnapshotSettings", "Tracker", "snapshot"]
