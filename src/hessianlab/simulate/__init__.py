"""Simulated distributed training time (Yao et al. 2018, ABSA, Appendix C).

* :mod:`~hessianlab.simulate.cost`: ring all-reduce time (eqs. 14, 16) and ``T_total`` per method;
* :mod:`~hessianlab.simulate.counts`: SGD updates from a per-epoch batch-size trajectory;
* :mod:`~hessianlab.simulate.paper`: the inputs of ABSA Table 3, with sources;
* :mod:`~hessianlab.simulate.runs`: costs measured from a stored training run.
"""

from hessianlab.simulate.cost import MethodCosts, Network, SimulatedTime, allreduce_seconds, simulate
from hessianlab.simulate.counts import count_updates, step_schedule, updates_per_epoch
from hessianlab.simulate.paper import PaperTable3, PrintedRow, load_absa_table3
from hessianlab.simulate.runs import costs_from_run

__all__ = ["MethodCosts", "Network", "PaperTable3", "PrintedRow", "SimulatedTime", "allreduce_seconds",
           "costs_from_run", "count_updates", "load_absa_table3", "simulate", "step_schedule", "updates_per_epoch"]
