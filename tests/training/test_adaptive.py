"""ABS/ABSA decision logic (Yao et al. 2018, Alg. 1) on synthetic eigenvalue sequences."""

import pytest

from hessianlab.attacks.mixing import AdvRatioSchedule
from hessianlab.training.abs_schedule import AdaptiveBatchSchedule, EigenMeasurement
from hessianlab.training.adaptive import AdaptiveBatchRule, check_due
from hessianlab.training.adaptive_batch import AdaptiveBatchSize
from hessianlab.training.schedules import ScheduleState


def _run(rule, eigenvalues):
    return [rule.decide(v) for v in eigenvalues]


def test_first_measurement_only_sets_the_reference():
    rule = AdaptiveBatchRule(16, 1024, kappa=1)  # kappa=1 would grow on any non-decrease: the first is not one
    d = rule.decide(10.0)
    assert (d.reason, d.batch_before, d.batch_after, d.reference, d.previous) == ("first", 16, 16, None, None)
    assert (rule.reference, rule.duration, rule.decreases) == (10.0, 0, 0)
    d = rule.decide(10.0)
    assert (d.reason, d.batch_after, d.reference, d.previous) == ("duration", 32, 10.0, 10.0)


def test_decrease_event_needs_lambda_below_reference_over_alpha():
    rule = AdaptiveBatchRule(16, 1024, alpha=2.0, beta=2.0, kappa=10)
    ds = _run(rule, [10.0, 5.0, 4.9, 3.0, 2.4])
    assert [d.reason for d in ds] == ["first", "none", "decrease", "none", "decrease"]
    # 5.0 is not < 10/2; 4.9 is; the reference becomes 4.9, so 3.0 is not < 2.45 but 2.4 is
    assert [d.batch_after for d in ds] == [16, 16, 32, 32, 64]
    assert [d.reference for d in ds] == [None, 10.0, 10.0, 4.9, 4.9]
    assert [d.duration for d in ds] == [0, 1, 0, 1, 0]
    assert [d.decreases for d in ds] == [0, 0, 1, 1, 2]
    assert rule.reference == 2.4


def test_alpha_and_beta_are_used():
    rule = AdaptiveBatchRule(10, 1000, alpha=4.0, beta=3.0, kappa=10)
    ds = _run(rule, [8.0, 2.5, 1.9])  # 2.5 >= 8/4; 1.9 < 2
    assert [d.reason for d in ds] == ["first", "none", "decrease"]
    assert ds[-1].batch_after == 30


def test_kappa_checks_without_decrease_grow_the_batch_and_keep_the_reference():
    rule = AdaptiveBatchRule(8, 1024, kappa=3)
    ds = _run(rule, [10.0, 9.0, 11.0, 9.5, 9.0, 9.0, 8.0])
    assert [d.reason for d in ds] == ["first", "none", "none", "duration", "none", "none", "duration"]
    assert [d.batch_after for d in ds] == [8, 8, 8, 16, 16, 16, 32]
    assert [d.duration for d in ds] == [0, 1, 2, 0, 1, 2, 0]
    assert rule.reference == 10.0 and rule.decreases == 0
    # a decrease resets the duration count
    d = _run(rule, [9.0, 4.0, 4.0, 4.0])
    assert [x.reason for x in d] == ["none", "decrease", "none", "none"] and rule.duration == 2


def test_batch_saturates_at_the_maximum():
    rule = AdaptiveBatchRule(16, 40, kappa=1)
    ds = _run(rule, [1.0, 1.0, 1.0, 1.0, 0.1])
    assert [d.batch_after for d in ds] == [16, 32, 40, 40, 40]
    assert [d.saturated for d in ds] == [False, False, True, True, True]
    assert [d.reason for d in ds] == ["first", "duration", "duration", "duration", "decrease"]
    assert rule.reference == 0.1 and rule.decreases == 1  # a saturated decrease still resets Eig and counts


def test_state_dict_round_trip_continues_identically():
    seq = [10.0, 9.0, 4.0, 4.5, 1.0, 1.2, 1.1, 0.4]
    straight = AdaptiveBatchRule(8, 100, kappa=2)
    first = _run(straight, seq)
    half = AdaptiveBatchRule(8, 100, kappa=2)
    _run(half, seq[:4])
    resumed = AdaptiveBatchRule(8, 100, kappa=2)
    resumed.load_state_dict(half.state_dict())
    assert _run(resumed, seq[4:]) == first[4:]


@pytest.mark.parametrize("before,after,every,due", [
    (0, 16, 64, False), (48, 64, 64, True), (64, 80, 64, False), (60, 70, 64, True),
    (60, 200, 64, True), (127, 128, 64, True), (128, 191, 64, False),
])
def test_check_due_means_a_multiple_was_crossed(before, after, every, due):
    assert check_due(before, after, every) is due


class _Scripted:
    """A probe returning a fixed eigenvalue sequence."""

    def __init__(self, values):
        self.values = list(values)

    def __call__(self, model, data):
        return EigenMeasurement(self.values.pop(0), 0.5, 7, 1e-4, True)


def test_schedule_checks_on_crossings_logs_records_and_decays_gamma():
    gamma = AdvRatioSchedule(0.2, omega=2.0, tau=40)
    sched = AdaptiveBatchSchedule(AdaptiveBatchSize(10, batch_max=80, every=25, kappa=10,
                                                    probe=_Scripted([8.0, 3.9, 1.9, 1.0]), gamma=gamma))
    samples, update, checked = 0, 0, []
    while update < 8:
        b = sched.batch_size(ScheduleState(0, update, samples, 0))
        assert sched.adv_ratio(update) == (0.0 if update >= 40 else 0.2 / 2 ** sched.rule.decreases)
        samples, update = samples + b, update + 1
        rec = sched.after_update(None, ScheduleState(update // 10, update, samples, b), 0.1 * b / 10, data=None)
        if rec is not None:
            checked.append(update)
    # B=10: 30 crosses 25 (first), 50 crosses 50 (3.9 < 8/2: B=20); 70 crosses nothing; 90 crosses 75
    # (1.9 < 3.9/2: B=40); 130 crosses 100 and 125 but checks once (1.0 >= 1.9/2: none)
    recs = sched.records
    assert [r["samples_seen"] for r in recs] == [30, 50, 90, 130]
    assert [r["reason"] for r in recs] == ["first", "decrease", "decrease", "none"]
    assert [r["batch_before"] for r in recs] == [10, 10, 20, 40]
    assert [r["batch_size"] for r in recs] == [10, 20, 40, 40]
    assert [r["gamma"] for r in recs] == [0.2, 0.1, 0.05, 0.05]
    assert [r["update"] for r in recs] == checked == [3, 5, 7, 8]
    assert recs[1]["lr"] == pytest.approx(0.1) and recs[2]["lr"] == pytest.approx(0.2)
    assert sched.eig_seconds == 2.0 and all(r["matvecs"] == 7 for r in recs)
    assert sched.adv_ratio(39) == 0.05 and sched.adv_ratio(40) == 0.0
    # the whole state (rule, records, seconds) survives a state_dict round trip
    again = AdaptiveBatchSchedule(AdaptiveBatchSize(10, batch_max=80, every=25, probe=_Scripted([]), gamma=gamma))
    again.load_state_dict(sched.state_dict())
    assert again.records == recs and again.rule.state_dict() == sched.rule.state_dict() and again.eig_seconds == 2.0
