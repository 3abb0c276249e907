"""The bulk screen of an example (fuzz/screen.py, through fuzz.harness.run_example).

A planted fault in one case of sixty (a wrong value, a written tail, a modified input, an
exception) becomes exactly one Finding, the one the per-case path gives; only that case is
re-run alone; a broken numpy oracle is our own bug (HarnessError), never a verdict.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from fuzz import bulk, harness, screen
from fuzz.case import Case, Layout
from fuzz.compare import expected_tensors
from fuzz.harness import HarnessError, Tally, run_backend, run_example
from fuzz.registry import IMPLEMENTATIONS
from nsa_meta import torch_impl

MARK = 987_654  # the planted case's first seq length: no drawn case has it
SLOTS = (None, 0, 3)


def mixed_cases(n: int = 60, seed: int = 0) -> list[Case]:
    """n valid cases of every dtype pair, layout, out/validate mode, numpy-drawn."""
    rng = np.random.default_rng(seed)
    batch = bulk.draw(rng, n)
    out = []
    for i in range(n):
        c = batch.case(i)
        dt = ("int32", "int64")
        c = replace(
            c,
            extend_layout=replace(c.extend_layout, dtype=dt[i % 2]),
            seq_layout=replace(c.seq_layout, dtype=dt[i // 2 % 2]),
            out_slack=SLOTS[i % 3],
            validate=i % 4 != 1,
        )
        assert MARK not in c.seq_lens
        out.append(c)
    return out


def with_target(target: Case, at: int = 37) -> list[Case]:
    cases = mixed_cases()
    cases[at] = target
    return cases


def target_case(out_slack: int | None = None, validate: bool = True) -> Case:
    return Case((2, 1, 3), (MARK, 50, 60), 100, out_slack=out_slack, validate=validate)


def plant(monkeypatch, fault) -> None:
    """torch_impl.expand_into, with `fault(ext, seq, out_e, out_c, capacity)` applied to the
    planted case (its first seq length is MARK) after the real work."""
    real = torch_impl.expand_into

    def planted(ext, seq, topk, out_e, out_c, capacity):
        real(ext, seq, topk, out_e, out_c, capacity)
        if seq.numel() and int(seq[0]) == MARK:
            fault(ext, seq, out_e, out_c, capacity)

    monkeypatch.setattr(torch_impl, "expand_into", planted)


def count_reruns(monkeypatch) -> list[Case]:
    ran: list[Case] = []
    real = harness.run_backend

    def counted(name, case, device, expected):
        ran.append(case)
        return real(name, case, device, expected)

    monkeypatch.setattr(harness, "run_backend", counted)
    return ran


def run(cases: list[Case], impls=("torch",), tally: Tally | None = None, **kw):
    return run_example(
        cases, [], list(impls), [], "cpu", tally or Tally(), check_errors=False, **kw
    )


def per_case(case: Case):
    found, _ = run_backend("torch", case, "cpu", expected_tensors(case.expected()))
    return found


# --- a correct backend ----------------------------------------------------------------------


def test_correct_backend_screens_clean_and_reruns_nothing(monkeypatch) -> None:
    ran = count_reruns(monkeypatch)
    tally = Tally()
    assert run(mixed_cases(), tally=tally, triton_batched=False) == []
    assert ran == []
    assert tally.calls["torch"] == 60 and tally.calls[harness.NUMPY_ORACLE] == 60
    # The reference ran only for the cross-check's sample.
    assert tally.calls["reference"] == len(screen.sampled(mixed_cases()))


def test_screen_storages_are_the_per_case_storages() -> None:
    """The screen's inputs hold what Case.tensors builds, decoys between elements included."""
    layouts = [Layout(d, s, o) for d in ("int32", "int64") for s in (0, 1, 2, 17) for o in (0, 3)]
    for lay in layouts:
        for values in ((), (5,), (4, 4, 4), (1, 2, 3, 4)):
            if lay.stride == 0 and len(set(values)) > 1:
                assert screen.host_storage(values, lay, "extend") is None
                continue
            case = Case(values, tuple(v + 9 for v in values), 7, lay, lay)
            ext, seq = case.tensors("cpu")
            for t, vals, which in ((ext, values, "extend"), (seq, case.seq_lens, "seq")):
                whole = torch.empty(0, dtype=t.dtype).set_(t.untyped_storage())
                assert whole.tolist() == screen.host_storage(vals, lay, which).tolist()
            views = screen.upload([case], "cpu").views[0]
            assert [v.tolist() for v in views] == [ext.tolist(), seq.tolist()]
            assert [v.dtype for v in views] == [ext.dtype, seq.dtype]


# --- one planted fault among sixty cases -----------------------------------------------------


@pytest.mark.parametrize("out_slack", [None, 2])
def test_planted_wrong_value_is_one_finding_as_per_case(monkeypatch, out_slack) -> None:
    def wrong(ext, seq, out_e, out_c, capacity):
        out_c[1] += 1

    plant(monkeypatch, wrong)
    target = target_case(out_slack)
    ran = count_reruns(monkeypatch)
    findings = run(with_target(target), triton_batched=False)
    assert [f.case for f in findings] == [target] and ran == [target]
    want = per_case(target)
    assert findings[0].mismatch == want
    assert want.signature == "torch:values:nsa_cache_seqlens" and want.index == 1


def test_planted_tail_write_is_one_finding(monkeypatch) -> None:
    def tail(ext, seq, out_e, out_c, capacity):
        out_e[capacity - 1] = 5

    plant(monkeypatch, tail)
    target = target_case(out_slack=3, validate=False)
    ran = count_reruns(monkeypatch)
    findings = run(with_target(target), triton_batched=False)
    assert [f.case for f in findings] == [target] and ran == [target]
    assert findings[0].mismatch == per_case(target)
    assert findings[0].mismatch.kind == "tail-written" and findings[0].mismatch.index == 8


def test_planted_input_write_reruns_all_and_finds_one(monkeypatch) -> None:
    def scribble(ext, seq, out_e, out_c, capacity):
        seq[1] = seq[1] + 1

    plant(monkeypatch, scribble)
    target = target_case()
    ran = count_reruns(monkeypatch)
    cases = with_target(target)
    findings = run(cases, triton_batched=False)
    assert [f.case for f in findings] == [target]
    assert len(ran) == len(cases)  # modified inputs: every case re-run alone
    assert findings[0].mismatch == per_case(target)
    assert findings[0].mismatch.signature == "torch:input-modified"


def test_planted_exception_is_one_finding(monkeypatch) -> None:
    def boom(ext, seq, out_e, out_c, capacity):
        raise RuntimeError("planted failure")

    plant(monkeypatch, boom)
    target = target_case(validate=False)
    ran = count_reruns(monkeypatch)
    findings = run(with_target(target), triton_batched=False)
    assert [f.case for f in findings] == [target] and ran == [target]
    assert findings[0].mismatch == per_case(target)
    assert findings[0].mismatch.signature == "torch:raised RuntimeError"


def test_planted_wrong_batched_triton_result(monkeypatch) -> None:
    """The batched Triton path: one upload, one launch per group, one download, and the
    planted case judged alone, as check_outputs judges its batched result."""
    import fuzz.triton_batched as tb

    real = tb.expand_packed
    planted = []

    def wrong(ext_store, seq_store, ext_index, seq_index, topk, total, longest):
        out_e, out_c = real(ext_store, seq_store, ext_index, seq_index, topk, total, longest)
        hit = (seq_store[seq_index] == MARK).nonzero()
        if hit.numel():
            r = int(hit[0, 0])
            at = int(ext_store[ext_index[:r]].sum()) + 2
            out_e[at] -= 1
            planted.append(int(out_e[at]))
        return out_e, out_c

    monkeypatch.setattr(tb, "expand_packed", wrong)
    target = target_case()
    findings = run(with_target(target), impls=("triton",), triton_batched=True)
    assert [f.case for f in findings] == [target] and len(planted) == 1
    m = findings[0].mismatch
    assert m.signature == "triton:values:seqlens_expanded"
    assert (m.index, m.expected, m.got) == (2, 50, planted[0])  # [MARK - 1, MARK, 50, 58, 59, 60]


def test_planted_wrong_legacy_answer_is_judged_by_the_reference(monkeypatch) -> None:
    real = IMPLEMENTATIONS["legacy"]

    def wrong(ext, seq, topk):
        e, c = real(ext, seq, topk)
        if seq.numel() and int(seq[0]) == MARK:
            c = c.clone()
            c[0] = -1
        return e, c

    monkeypatch.setitem(IMPLEMENTATIONS, "legacy", wrong)
    target = target_case()
    findings = run(with_target(target), impls=("legacy",), triton_batched=False)
    assert [f.case for f in findings] == [target]
    assert findings[0].mismatch.signature == "legacy:values:nsa_cache_seqlens"
    assert (findings[0].mismatch.expected, findings[0].mismatch.got) == (
        100,
        -1,
    )  # clamped to top-k 100


# --- our own bugs ----------------------------------------------------------------------------


def broken_oracle(monkeypatch, token: int) -> None:
    real = screen.oracle

    def off_by_one(b):
        e, c = real(b)
        c = c.copy()
        c[token] += 1
        return e, c

    monkeypatch.setattr(screen, "oracle", off_by_one)


def test_cross_check_catches_a_broken_numpy_oracle(monkeypatch) -> None:
    cases = mixed_cases()
    first = next(i for i in screen.sampled(cases) if cases[i].total)
    broken_oracle(monkeypatch, sum(c.total for c in cases[:first]))
    with pytest.raises(HarnessError, match="numpy oracle disagrees") as info:
        run(cases, triton_batched=False)
    assert "by numpy" in str(info.value) and "by the reference" in str(info.value)


def test_a_broken_oracle_outside_the_sample_is_caught_by_the_judge(monkeypatch) -> None:
    """A case the cross-check skips: the screen flags it, the backend passes alone, and the
    reference agrees with what the screen saw: the numpy oracle is at fault."""
    cases = [
        Case(tuple(range(1, 11)), tuple(range(100, 110)), 50, out_slack=(i % 2) or None)
        for i in range(20)
    ]
    assert 5 not in screen.sampled(cases)
    broken_oracle(monkeypatch, 5 * cases[0].total + 3)
    with pytest.raises(HarnessError, match="numpy oracle disagrees"):
        run(cases, triton_batched=False)


def test_small_examples_keep_the_per_case_path(monkeypatch) -> None:
    """Fewer than SCREEN_MIN cases (run_one, reproduce): the reference answers every case."""
    monkeypatch.setattr(screen, "numpy_oracle", None)  # would fail if called
    tally = Tally()
    cases = mixed_cases(harness.SCREEN_MIN - 1)
    assert run(cases, impls=("torch", "legacy"), tally=tally, triton_batched=False) == []
    assert tally.calls["reference"] == len(cases)


def test_a_campaign_reports_a_broken_oracle_as_its_own_error(monkeypatch, tmp_path) -> None:
    """The campaign turns the HarnessError into an error of the suite (exit 3), not a failure."""
    from fuzz.campaign import Campaign, Options

    real = screen.oracle

    def broken(b):
        e, c = real(b)
        return e + 1, c

    monkeypatch.setattr(screen, "oracle", broken)
    opts = Options(max_cases=300, builtins=["reference", "torch"], corpus_dir=tmp_path, named=False)
    campaign = Campaign(opts).run()
    assert len(campaign.book) == 0
    assert any("numpy oracle disagrees" in e for e in campaign.errors), campaign.errors


def test_a_value_wrong_only_in_the_batched_pass_is_our_error_not_silence(monkeypatch) -> None:
    """Wrong on the planted case's first call (the screen's), right when re-run alone: the
    batching or a neighbour-dependent built-in. Never a silent pass: HarnessError (exit 3)."""
    calls = [0]

    def wrong_once(ext, seq, out_e, out_c, capacity):
        calls[0] += 1
        if calls[0] == 1:
            out_c[1] += 1

    plant(monkeypatch, wrong_once)
    with pytest.raises(HarnessError, match="other values in the batched screen than alone"):
        run(with_target(target_case()), triton_batched=False)
    assert calls[0] == 2  # the screen's call, then the lone re-run
