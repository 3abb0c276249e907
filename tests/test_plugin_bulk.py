"""The plug-in bulk engine: a numpy-drawn batch through a candidate back to back, judged in
one vectorised pass. A suspect must really fail; a correct candidate has none."""

from __future__ import annotations

import mutants
import numpy as np
import pytest
import torch

from fuzz import bulk, plugin_bulk

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def screen(fn, seed: int = 0, n: int = 600):
    batch = bulk.draw(np.random.default_rng(seed), n)
    header, blobs = plugin_bulk.pack(batch)
    reply, out = plugin_bulk.run_batch(fn, header, blobs, DEVICE)
    return batch, plugin_bulk.judge(batch, reply, out)


def test_a_correct_candidate_has_no_suspect() -> None:
    _, verdict = screen(mutants.correct)
    assert verdict.suspects == [] and not verdict.inputs_modified


@pytest.mark.parametrize("name", ["strides_ignored", "topk_zero_not_clamped", "empty_batch_raises"])
def test_every_suspect_fails_against_the_reference(name: str) -> None:
    batch, verdict = screen(getattr(mutants, name), seed=3)
    assert verdict.suspects, f"{name}: no suspect in the batch"
    fn = getattr(mutants, name)
    for i in verdict.suspects[:3]:
        case = batch.case(i)
        ext, seq = case.tensors(DEVICE)
        try:
            got = fn(ext, seq, case.nsa_index_topk)
        except Exception:
            continue  # raising on a valid case is a failure too
        want = case.expected()
        assert [g.tolist() for g in got] != [list(w) for w in want], case.describe()


def test_a_candidate_that_writes_its_inputs_is_caught() -> None:
    def writes(ext, seq, k):
        out = mutants.correct(ext, seq, k)
        if seq.numel() and seq.stride(0) == 1:
            seq[0] += 1
        return out

    _, verdict = screen(writes)
    assert verdict.inputs_modified


def test_a_reply_that_does_not_describe_every_case_is_refused() -> None:
    batch = bulk.draw(np.random.default_rng(0), 10)
    with pytest.raises(ValueError, match="every case"):
        plugin_bulk.judge(batch, {"facts": []}, [b"", b"", b""])


def test_outputs_in_static_memory_are_copied_not_judged_with_the_last_calls_values() -> None:
    """A correct candidate whose outputs are views of one static pair of buffers (rewritten
    by its next call, as a CUDA graph's are): the batch runs again with each output copied
    as it returns, so no case is judged on the last call's values (the false-alarm red team
    saw 19 batches flagged and called flaky). A static-memory candidate that is wrong is
    still caught."""
    from benchmarks import false_alarm_candidates as fa

    _, verdict = screen(fa.correct_v1_static_buffer)
    assert verdict.suspects == [] and not verdict.inputs_modified

    def static_and_off_by_one(ext, seq, topk):
        a, c = fa.correct_v1_static_buffer(ext, seq, topk)
        if a.numel():
            a[-1] += 1
        return a, c

    _, verdict = screen(static_and_off_by_one)
    assert len(verdict.suspects) > 100, "a wrong static-memory candidate hid in the bulk screen"
