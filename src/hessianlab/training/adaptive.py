"""The decision logic of ABS / ABSA (Yao et al. 2018, "Large batch size training ... adversarial training
and second-order information", Algorithm 1), as a pure state machine fed with eigenvalues.

Algorithm 1 checks the top Hessian eigenvalue λ every ``n`` visited samples and, per check::

    first check (Eig = None)      Eig = λ                                         reason "first"
    λ < Eig / α                   B = min(β B, B_max); γ-decay; Eig = λ; D = 0    reason "decrease"
    otherwise                     D += 1; if D == κ: B = min(β B, B_max); D = 0   reason "duration" / "none"

The ambiguities of the paper are settled as follows:

* The first measurement only sets the reference ``Eig`` (line 10 compares with ``Eig = None``, which we
  read as "no decision"); it neither grows the batch nor counts towards the duration.
* "Visiting Sample % n == 0" with batch sizes that change and need not divide ``n`` means "this update
  crossed a multiple of ``n``" (:func:`check_due`); one update crossing several multiples checks once.
* Line 10 is written with 1/2; the inputs call it the eigenvalue decreasing ratio α, so the test is
  ``λ < Eig / α``. Values are compared signed, exactly as written.
* Algorithm 1 never decreases ``B``: ``B_min`` only bounds the initial batch size (checked by the config).
  ``B`` saturates at ``B_max``; a rule that fires at ``B_max`` still resets the duration (and, for a
  decrease, still updates ``Eig`` and decays γ); the record says ``saturated``.
* ``β B`` is rounded to the nearest integer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def check_due(samples_before: int, samples_after: int, every: int) -> bool:
    """Whether an update that moved the visited-sample count from ``samples_before`` to ``samples_after``
    crossed a multiple of ``every`` (Alg. 1 line 8 for batch sizes that do not divide ``every``)."""
    return samples_after // every > samples_before // every


@dataclass(frozen=True)
class Decision:
    """The outcome of one eigenvalue check.

    Attributes:
        reason: ``first`` | ``decrease`` | ``duration`` | ``none`` (which branch of Alg. 1 ran).
        eigenvalue: the measured λ.
        previous: λ of the previous check (``None`` at the first).
        reference: the reference ``Eig`` the check compared against (``None`` at the first).
        batch_before, batch_after: batch size before and after the decision (samples).
        saturated: ``batch_after == B_max`` (a rule that fires there cannot grow the batch).
        duration: checks without a decrease since the last batch change, after the decision.
        decreases: eigenvalue-decrease events so far (each one divides γ by ω in ABSA).
    """

    reason: str
    eigenvalue: float
    previous: float | None
    reference: float | None
    batch_before: int
    batch_after: int
    saturated: bool
    duration: int
    decreases: int


class AdaptiveBatchRule:
    """Algorithm 1's batch-size state machine: :meth:`decide` takes each measured eigenvalue.

    Args:
        batch_size: initial batch size ``B`` (samples).
        batch_max: ``B_max``, the batch size never exceeds it.
        alpha: eigenvalue decrease ratio α > 1 (grow when ``λ < Eig / α``).
        beta: batch increase ratio β > 1.
        kappa: duration factor κ >= 1 (grow after κ checks without a decrease).
    """

    def __init__(self, batch_size: int, batch_max: int, *, alpha: float = 2.0, beta: float = 2.0,
                 kappa: int = 10) -> None:
        self.batch_max, self.alpha, self.beta, self.kappa = batch_max, alpha, beta, kappa
        self.batch_size = batch_size
        self.reference: float | None = None
        self.last: float | None = None
        self.duration = 0
        self.decreases = 0

    def _grow(self) -> int:
        return min(round(self.batch_size * self.beta), self.batch_max)

    def decide(self, eigenvalue: float) -> Decision:
        """Apply Alg. 1 lines 10–18 to the measured ``eigenvalue``; updates the state and returns the decision."""
        before, reference, previous = self.batch_size, self.reference, self.last
        if reference is None:
            reason = "first"
            self.reference = eigenvalue
        elif eigenvalue < reference / self.alpha:
            reason = "decrease"
            self.batch_size = self._grow()
            self.reference = eigenvalue
            self.decreases += 1
            self.duration = 0
        else:
            self.duration += 1
            reason = "none"
            if self.duration == self.kappa:
                reason = "duration"
                self.batch_size = self._grow()
                self.duration = 0
        self.last = eigenvalue
        return Decision(reason, eigenvalue, previous, reference, before, self.batch_size,
                        self.batch_size == self.batch_max, self.duration, self.decreases)

    def state_dict(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "reference": self.reference, "last": self.last,
                "duration": self.duration, "decreases": self.decreases}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batch_size = int(state["batch_size"])
        self.reference, self.last = state["reference"], state["last"]
        self.duration, self.decreases = int(state["duration"]), int(state["decreases"])
