"""Adversarial attacks with pinned semantics, robust accuracy, and adversarial mixing for training.

Semantics shared by every attack (implemented once, in :mod:`hessianlab.attacks.base`):

* inputs and outputs are pixels in ``[0, 1]``; results are clipped there;
* ``eps`` is in pixel units: an L∞ radius, or an L2 radius per sample over all input entries;
* ``y`` are the true labels and the attack ascends their loss; ``target=`` (targeted mode) descends the
  loss of the target labels instead;
* loss: cross-entropy with ``reduction='sum'`` over the batch, so each sample's input gradient is its own
  ``∇_x ℓ_i`` (not divided by ``N``); sign-based attacks are unaffected by this choice;
* ``attack(model, x, y)`` runs the model in eval mode and restores every submodule's flag; parameter
  ``.grad`` is never touched (gradients are taken w.r.t. the input only); all work is batched.

Attacks are frozen dataclasses, ``attack(model, x, y) -> x_adv`` (shape of ``x``)::

    FGSM(eps)                                   x + eps·sign(∇ℓ)                     (L∞)
    IFGSM(eps, steps=10, alpha=eps/steps)       the paper's FGSM-10                  (L∞)
    PGD(eps, norm, steps, alpha, random_start, restarts, seed)   Madry et al.        (L∞ or L2)
    L2Grad(eps)                                 x + eps·∇ℓ/|∇ℓ|₂                     (L2)
    FHSM(eps, damping, cg_iters, cg_tol)        x + eps·sign((H_x + μI)⁻¹∇ℓ)         (L∞)
    L2Hess(eps, damping, cg_iters, cg_tol)      x + eps·d/|d|₂, d = (H_x + μI)⁻¹∇ℓ   (L2)

``make_attack(name, **params)`` builds one from a config (names ``fgsm``, ``ifgsm``, ``pgd``, ``l2grad``,
``fhsm``, ``l2hess``); ``attack.describe()`` is the dict stored with results. :func:`robust_accuracy`
evaluates several radii (white-box or transfer); :func:`mix_adversarial` and :class:`AdvRatioSchedule`
serve adversarial training (Yao et al. 2018; ABSA).
"""

from hessianlab.attacks.base import SEMANTICS, Attack
from hessianlab.attacks.cg import CGResult, batched_cg
from hessianlab.attacks.evaluate import RobustResult, robust_accuracy
from hessianlab.attacks.first_order import FGSM, IFGSM, PGD, L2Grad
from hessianlab.attacks.mixing import AdvRatioSchedule, mix_adversarial, num_adversarial
from hessianlab.attacks.norms import GEOMETRIES, L2, LINF, Geometry
from hessianlab.attacks.registry import ATTACK_NAMES, ATTACKS, make_attack
from hessianlab.attacks.second_order import FHSM, L2Hess, NewtonDirection

__all__ = [
    "ATTACKS",
    "ATTACK_NAMES",
    "AdvRatioSchedule",
    "Attack",
    "CGResult",
    "FGSM",
    "FHSM",
    "GEOMETRIES",
    "Geometry",
    "IFGSM",
    "L2",
    "L2Grad",
    "L2Hess",
    "LINF",
    "NewtonDirection",
    "PGD",
    "RobustResult",
    "SEMANTICS",
    "batched_cg",
    "make_attack",
    "mix_adversarial",
    "num_adversarial",
    "robust_accuracy",
]
