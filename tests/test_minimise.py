"""fuzz/minimise.py on pure-Python bugs: each shrinks to the canonical case, keeping only
what the failure needs, in few calls of `fails`, and never outside the envelope.

A `fails` here is a predicate on the case (no kernel runs), so every test is fast and the
call count is exact: in a campaign one call can cost seconds (a fresh worker per crash).
"""

from __future__ import annotations

import random
import time

import pytest

from fuzz.case import Case, Fault, Layout
from fuzz.contract import INT32_MAX
from fuzz.envelope import Envelope
from fuzz.minimise import minimise, normalise, shrink


class Counted:
    """A `fails` predicate that counts its calls and checks every case it is given."""

    def __init__(self, bug, envelope: Envelope | None = None, min_bs: int = 0):
        self.bug, self.envelope, self.min_bs = bug, envelope, min_bs
        self.calls = 0

    def __call__(self, case: Case) -> bool:
        self.calls += 1
        case.tensors()  # every tried case is a buildable call (stride 0 only when uniform)
        case.expected()  # and a valid one: the oracle validates
        if self.envelope is not None:
            assert self.envelope.admits(case), f"tried outside the envelope: {case.describe()}"
        assert case.bs >= self.min_bs, f"tried bs {case.bs} < {self.min_bs}"
        return bool(self.bug(case))


def messy(bs: int, seed: int = 1) -> Case:
    """A drawn-looking case: odd values, int64 strided offset views, buffers, no validation."""
    rng = random.Random(seed)
    ext = tuple(rng.randint(0, 300) for _ in range(bs))
    seq = tuple(e + rng.randint(0, 10**6) for e in ext)
    return Case(
        ext, seq, 623698, Layout("int64", 16, 9), Layout("int64", 3, 2), out_slack=3, validate=False
    )


def canonical(bs: int, topk: int = 0, **layouts) -> Case:
    return Case((0,) * bs, (0,) * bs, topk, **layouts)


def test_a_bug_that_needs_bs_128_lands_on_the_canonical_case_in_few_calls() -> None:
    fails = Counted(lambda c: c.bs >= 128)
    assert shrink(messy(4096), fails, seconds=30) == canonical(128)
    assert fails.calls < 60, f"{fails.calls} calls of fails; each can cost seconds"


def test_the_request_count_is_bisected_not_walked() -> None:
    fails = Counted(lambda c: c.bs >= 1000)
    assert shrink(messy(4096), fails, seconds=30) == canonical(1000)
    assert fails.calls < 60


def test_a_bug_that_needs_int64_extends_keeps_int64_and_nothing_else() -> None:
    fails = Counted(lambda c: c.extend_layout.dtype == "int64")
    assert shrink(messy(50), fails, seconds=30) == canonical(0, extend_layout=Layout("int64"))


def test_a_bug_that_needs_a_stride_keeps_one() -> None:
    fails = Counted(lambda c: c.bs >= 2 and c.seq_layout.stride != 1)
    small = shrink(messy(50), fails, seconds=30)
    assert small == canonical(2, seq_layout=Layout("int32", 3, 0))


def test_a_bug_that_needs_a_large_topk_gets_int32_max() -> None:
    fails = Counted(lambda c: c.nsa_index_topk >= 2**30)
    start = Case((3, 4), (9, 9), 1234567890, Layout("int64"), Layout("int32", 2, 1))
    assert shrink(start, fails, seconds=30) == canonical(0, topk=INT32_MAX)


def test_topk_is_left_as_found_when_neither_0_nor_int32_max_fails() -> None:
    fails = Counted(lambda c: c.nsa_index_topk == 623698)
    assert shrink(messy(10), fails, seconds=30) == canonical(0, topk=623698)


@pytest.mark.parametrize(
    ("bug", "start", "want"),
    [
        (lambda c: any(q == e > 0 for e, q in zip(c.extend_seq_lens, c.seq_lens)),
         Case((5, 3, 7), (5, 9, 7), 99), Case((1,), (1,), 0)),
        (lambda c: any(q < e for e, q in zip(c.extend_seq_lens, c.seq_lens)),
         Case((5, 3, 7), (9, 2, 70), 99), Case((1,), (0,), 0)),
        (lambda c: any(q >= INT32_MAX for q in c.seq_lens),
         Case((5, 3), (INT32_MAX, 2), 99, Layout("int64"), Layout("int64")),
         Case((0,), (INT32_MAX,), 0)),
    ],
    ids=["seq == extend > 0", "padded request", "seq at int32 max"],
)  # fmt: skip
def test_values_go_to_0_then_1_then_as_small_as_the_bug_allows(bug, start, want) -> None:
    assert shrink(start, Counted(bug), seconds=30) == want


def test_one_bad_request_among_4096_is_found_alone() -> None:
    ext = tuple(5 if i == 2917 else 1 for i in range(4096))
    seq = tuple(5000 if i == 2917 else 3 for i in range(4096))
    fails = Counted(
        lambda c: any(e == 5 and q > 1000 for e, q in zip(c.extend_seq_lens, c.seq_lens))
    )
    assert shrink(Case(ext, seq, 7), fails, seconds=30) == Case((5,), (1001,), 0)
    assert fails.calls < 150


def test_two_distant_requests_are_both_kept_and_the_rest_dropped() -> None:
    ext = tuple(3 if i in (5, 40) else 1 for i in range(64))
    fails = Counted(lambda c: c.extend_seq_lens.count(3) >= 2)
    small = shrink(Case(ext, (9,) * 64, 7), fails, seconds=30)
    assert small == Case((3, 3), (0, 0), 0)


def test_the_empty_batch_is_the_fewest_requests() -> None:
    assert shrink(messy(300), Counted(lambda c: c.bs == 0 or c.bs > 5), 30) == canonical(0)


def test_fewer_distinct_values_when_lowering_cannot_reach_them() -> None:
    """Only 2, 6 and 9 fail (bisection from 6 finds nothing below); 6 becomes 2."""
    bug = lambda c: c.bs >= 3 and 9 in c.seq_lens and set(c.seq_lens) <= {2, 6, 9}  # noqa: E731
    assert shrink(Case((0, 0, 0), (9, 6, 2), 0), Counted(bug), 30).seq_lens == (9, 2, 2)


def test_features_the_bug_needs_are_kept_by_normalise() -> None:
    fails = Counted(lambda c: c.out_slack is not None and not c.validate and c.bs >= 1)
    small = normalise(messy(3), fails)
    assert (small.out_slack, small.validate) == (3, False)
    assert (small.extend_layout, small.seq_layout) == (Layout(), Layout())
    assert small.bs == 1 and small.total == 0


def test_an_int64_only_envelope_keeps_int64() -> None:
    env = Envelope.parse({"dtypes": ["int64"]}, source="test")
    fails = Counted(lambda c: c.bs >= 3, envelope=env)
    start = env.restrict(messy(40))
    assert start is not None
    assert shrink(start, fails, 30, env) == canonical(3, extend_layout=Layout("int64"),
                                                      seq_layout=Layout("int64"))  # fmt: skip


def test_nothing_outside_the_envelope_is_tried() -> None:
    env = Envelope.parse(
        {"dtypes": ["int32"], "contiguous": True, "topk": [2048], "bs": [1, 16, 128, 4096]},
        source="test",
    )
    fails = Counted(lambda c: c.bs >= 100, envelope=env)
    start = env.restrict(messy(4096))
    assert start is not None and start.bs == 4096
    assert shrink(start, fails, 30, env) == canonical(128, topk=2048)


def test_a_fault_that_needs_a_request_never_loses_its_last_one() -> None:
    fault = Fault("extend_negative", -1, 0)
    fails = Counted(lambda c: True, min_bs=1)
    assert shrink(messy(20), fails, 30, fault=fault) == canonical(1)


def test_the_time_budget_is_kept() -> None:
    def slow(c: Case) -> bool:
        time.sleep(0.02)
        return c.bs >= 128

    start = time.monotonic()
    small = shrink(messy(4096), slow, seconds=0.2)
    assert time.monotonic() - start < 0.2 + 0.1
    assert small.bs >= 128  # whatever it reached still fails


def test_minimise_keeps_its_old_call_and_only_reduces() -> None:
    fails = Counted(lambda c: c.bs >= 7)
    small = minimise(messy(100), fails, 5.0)
    assert small.bs == 7 and small.total == 0
    assert small.extend_layout == Layout("int64", 16, 9)  # layouts are normalise's job


def test_a_bug_that_needs_the_count_and_one_value_zeroes_the_rest_in_chunks() -> None:
    """Like a kernel that drops the last request of a large batch: the last one must count."""
    fails = Counted(lambda c: c.bs >= 1024 and c.extend_seq_lens[-1] > 0)
    ext = tuple(1 + i % 7 for i in range(3000))
    small = shrink(Case(ext, tuple(e + 40 for e in ext), 9), fails, seconds=30)
    assert small == Case((0,) * 1023 + (1,), (0,) * 1024, 0)
    assert fails.calls < 80
