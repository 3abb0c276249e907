"""A candidate's signature against the operation it is run as (fuzz/candidates.py): a
mismatch is the command line's mistake, a usage error before any case, never a failure of
the candidate (a v2 kernel run without --op metadata raised TypeError on every case and was
saved as a finding)."""

from __future__ import annotations

import pytest
from cli_here import fuzz_here

from fuzz.candidates import CandidateError, callable_as, check_callable_as


def v1(extend_seq_lens, seq_lens, nsa_index_topk):
    pass


def v2(*, mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk, next_n,
       page_size, width, out):  # fmt: skip
    pass


def v2_kw(**kw):
    pass


def either(*args, **kwargs):
    pass


def v2_needs_more(*, mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk,
                  next_n, page_size, width, out, stream):  # fmt: skip
    pass


class Callable:
    def __call__(self, e, s, k, extra=None):
        pass


@pytest.mark.parametrize(
    "fn,ops",
    [
        (v1, ["expand"]),
        (v2, ["metadata"]),
        (v2_kw, ["metadata"]),
        (either, ["expand", "metadata"]),
        (v2_needs_more, []),
        (Callable(), ["expand"]),
    ],
)
def test_the_calls_a_signature_takes(fn, ops) -> None:
    assert callable_as(fn)["ops"] == ops


def test_a_signature_python_cannot_read_is_not_checked() -> None:
    assert callable_as(print) is None or "expand" in callable_as(print)["ops"]
    check_callable_as("x.py:f", None, "metadata")  # nothing to check: no error


@pytest.mark.parametrize(
    "fn,op,words",
    [
        (v2, "expand", "run it with --op metadata"),
        (v1, "metadata", "run it without --op (or with --op expand)"),
        (v2_needs_more, "metadata", "cannot take contract v2's keyword arguments"),
    ],
)
def test_a_mismatch_names_the_spec_the_signature_and_the_fix(fn, op, words) -> None:
    with pytest.raises(CandidateError) as err:
        check_callable_as("k.py:f", callable_as(fn), op)
    assert "--candidate 'k.py:f'" in str(err.value) and words in str(err.value)
    assert "(" in str(err.value).split("signature", 1)[1]  # the signature itself


def test_replay_of_a_v1_candidate_as_metadata_is_a_usage_error(tmp_path) -> None:
    (tmp_path / "corpus").mkdir()
    r = fuzz_here("replay", tmp_path / "corpus", "--op", "metadata", "--candidate",
                  "tests/candidates/hostile.py:hangs")  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "run it without --op (or with --op expand)" in r.stderr
