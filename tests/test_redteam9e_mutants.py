"""Red-team round 9e (benchmarks/redteam9e_mutants.py): every planted bug is a real one, shown
on its smallest input (a wrong exception, an unnamed message, a write or an input change before
raising, a bad input taken, a valid input refused, a wrong cell inside an envelope), and every
`correct*` candidate is right (envelope ones inside their envelope).
"""

from __future__ import annotations

import copy

import pytest
import torch
from meta_fuzz_helpers import benchmark_module

import nsa_meta

I32, I64 = torch.int32, torch.int64
MAX = 2**31 - 1
POISON = -777
VAR = "draft_extend_var"


def rt():
    return benchmark_module("redteam9e_mutants")


def _kw(mode, s, *, r=None, pool=4, W=4, P=1, N=1, K=2048, ext=None, dt=I32, cols=None,
        bs_cap=None, rows_cap=None, rpt_cols=None):  # fmt: skip
    """One call's keyword arguments, `out` poisoned buffers of the capacity needed."""
    bs = len(s)
    r = list(range(bs)) if r is None else r
    pool = max(pool, bs)
    rtt = torch.arange(pool * (cols or W), dtype=I32).reshape(pool, cols or W) % 97
    e = {"decode": 1, "target_verify": N, "draft_extend": N}.get(mode)
    T = sum(ext) if e is None else bs * e
    out = nsa_meta.allocate_metadata(bs_cap or bs, rows_cap or max(T, 0), W, P)
    if rpt_cols is not None:
        out = out._replace(real_page_table=torch.zeros(rows_cap or T, rpt_cols, dtype=I32))
    for buf in out:
        if buf is not None:
            buf.fill_(POISON)
    return dict(
        mode=mode,
        seq_lens=torch.tensor(s, dtype=dt),
        extend_seq_lens=None if ext is None else torch.tensor(ext, dtype=dt),
        req_pool_indices=torch.tensor(r, dtype=dt),
        req_to_token=rtt,
        topk=K,
        next_n=N,
        page_size=P,
        width=W,
        out=out,
    )


def _run(fn, kw):
    """(exception or None, the call's arguments after it) on a deep copy of `kw`."""
    kw = copy.deepcopy(kw)
    try:
        fn(**kw)
    except Exception as exc:  # noqa: BLE001 - the exception is what is judged
        return exc, kw
    return None, kw


def _tensors(kw):
    named = {k: v for k, v in kw.items() if isinstance(v, torch.Tensor)}
    out = kw["out"]
    if isinstance(out, tuple) and hasattr(out, "_fields"):
        named |= {f"out.{n}": b for n, b in out._asdict().items() if isinstance(b, torch.Tensor)}
    return named


def _same(a, b) -> bool:
    ta, tb = _tensors(a), _tensors(b)
    return ta.keys() == tb.keys() and all(
        ta[k].dtype == tb[k].dtype and torch.equal(ta[k], tb[k]) for k in ta
    )


VALID = [
    _kw("decode", [3, 0, 5], K=2),
    _kw("target_verify", [2, 7], N=3, P=2, W=5),
    _kw("draft_extend", [1, 6], N=4, P=3, W=7, dt=I64),
    _kw(VAR, [4, 0, 2], ext=[2, 0, 3], r=[3, 3, 0], K=1, W=3),
    _kw(VAR, [5], ext=[0], bs_cap=3, rows_cap=4),
    _kw("decode", [], W=1),
]
PLAIN = [  # no edge that a reject_* candidate refuses
    VALID[0],
    VALID[1],
    _kw("draft_extend", [5, 6], N=4, P=3, W=7, dt=I64),
    _kw(VAR, [4, 0, 5], ext=[2, 0, 3], r=[3, 3, 0], K=1, W=3, N=3),
    VALID[-1],
]


def _valid_right(name, kw):
    exc, got = _run(getattr(rt(), name), kw)
    want_exc, want = _run(rt().correct, kw)
    assert want_exc is None and exc is None, f"{name}: {exc!r}"
    assert _same(got, want), name


# name -> (bad call, what the right answer raises, a name its message must carry)
BAD = {
    "next_n_unchecked_decode": (_kw("decode", [3], N=0), ValueError, "next_n"),
    "next_n_bool_decode": (_kw("decode", [3], N=True), TypeError, "next_n"),
    "page_size_over_int32": (
        {**_kw("decode", [3], P=2), "page_size": 2**31},
        ValueError,
        "page_size",
    ),
    "topk_over_int32": (_kw("decode", [3], K=2**31), ValueError, "topk"),
    "pool_index_zero_extend": (
        _kw(VAR, [3, 3], ext=[1, 0], r=[0, 4]),
        ValueError,
        "req_pool_indices",
    ),
    "seq_lens_int64_wraps": (_kw("decode", [2**32 + 3], dt=I64), ValueError, "seq_lens"),
    "kv_overflow_wraps": (_kw("target_verify", [MAX], N=1), ValueError, "seq_lens"),
    "cu_sum_over_int32": (_kw("decode", [2**30, 2**30]), ValueError, "seq_lens"),
    "total_over_int32_runtimeerror": (
        _kw(VAR, [0, 0], ext=[2**30, 2**30], rows_cap=1),
        ValueError,
        "extend_seq_lens",
    ),
    "real_page_floor_columns": (_kw("decode", [3], P=3, rpt_cols=1), ValueError, "real_page_table"),
    "page_table_short_written_first": (None, ValueError, "page_table_1"),
    "width_message_unnamed": (_kw("decode", [3], cols=3, W=4), ValueError, "width"),
    "extend_negative_runtimeerror": (_kw(VAR, [3], ext=[-1]), ValueError, "extend_seq_lens"),
    "seq_lens_negative_modified": (_kw("decode", [-1]), ValueError, "seq_lens"),
    "req_to_token_1d_indexerror": (None, ValueError, "req_to_token"),
    "seq_lens_2d_flattened": (None, ValueError, "seq_lens"),
    "page_size_zero_division": ({**_kw("decode", [3]), "page_size": 0}, ValueError, "page_size"),
    "width_zero_accepted": ({**_kw("decode", [3]), "width": 0}, ValueError, "width"),
    "var_rows_short_accepted": (_kw(VAR, [3], ext=[3], rows_cap=2), ValueError, "out"),
    "out_plain_tuple": (None, TypeError, "out"),
    "out_buffer_not_tensor": (None, TypeError, "cache_seqlens"),
    "out_int_buffer_accepted": (None, TypeError, "cache_seqlens"),
    "negative_cell_last_column": (None, ValueError, "req_to_token"),
}


def _fill_bad():
    kw = _kw("decode", [3])
    kw["out"] = kw["out"]._replace(page_table_1=torch.full((1, 3), POISON, dtype=I32))
    BAD["page_table_short_written_first"] = (kw, *BAD["page_table_short_written_first"][1:])
    kw = _kw("decode", [3])
    kw["req_to_token"] = torch.arange(4, dtype=I32)
    BAD["req_to_token_1d_indexerror"] = (kw, *BAD["req_to_token_1d_indexerror"][1:])
    kw = _kw("decode", [3])
    kw["seq_lens"] = torch.tensor([[3]], dtype=I32)
    BAD["seq_lens_2d_flattened"] = (kw, *BAD["seq_lens_2d_flattened"][1:])
    kw = _kw("decode", [3])
    kw["out"] = tuple(kw["out"])
    BAD["out_plain_tuple"] = (kw, *BAD["out_plain_tuple"][1:])
    kw = _kw("decode", [3])
    kw["out"] = kw["out"]._replace(cache_seqlens=[POISON])
    BAD["out_buffer_not_tensor"] = (kw, *BAD["out_buffer_not_tensor"][1:])
    kw = _kw("decode", [3])
    kw["out"] = kw["out"]._replace(cache_seqlens=torch.full((1,), POISON, dtype=I64))
    BAD["out_int_buffer_accepted"] = (kw, *BAD["out_int_buffer_accepted"][1:])
    kw = _kw("decode", [2])
    kw["req_to_token"][0, 3] = -1  # column W - 1 of the row read
    BAD["negative_cell_last_column"] = (kw, *BAD["negative_cell_last_column"][1:])


_fill_bad()


@pytest.mark.parametrize("name", sorted(BAD))
def test_error_bug_right_on_valid_calls(name):
    for kw in VALID:
        _valid_right(name, kw)


@pytest.mark.parametrize("name", sorted(BAD))
def test_error_bug_breaks_the_contract_on_its_bad_input(name):
    kw, kind, arg = BAD[name]
    want_exc, want = _run(rt().correct, kw)
    assert isinstance(want_exc, kind) and arg in str(want_exc), repr(want_exc)
    assert _same(want, kw), "the right answer writes nothing"
    exc, got = _run(getattr(rt(), name), kw)
    right = isinstance(exc, kind) and arg in str(exc) and _same(got, kw)
    assert not right, f"{name} met the contract: {exc!r}"


def test_error_bug_kinds():
    """Each bug shows the misbehaviour its docstring names."""
    m = rt()

    def exc_of(name):
        return _run(getattr(m, name), BAD[name][0])

    for name in ("next_n_unchecked_decode", "page_size_over_int32", "topk_over_int32",
                 "pool_index_zero_extend", "seq_lens_int64_wraps", "kv_overflow_wraps",
                 "cu_sum_over_int32", "real_page_floor_columns", "width_zero_accepted",
                 "var_rows_short_accepted", "out_plain_tuple", "out_int_buffer_accepted",
                 "negative_cell_last_column", "seq_lens_2d_flattened", "next_n_bool_decode"):  # fmt: skip
        assert exc_of(name)[0] is None, name  # accepted silently
    assert type(exc_of("total_over_int32_runtimeerror")[0]) is RuntimeError
    assert type(exc_of("extend_negative_runtimeerror")[0]) is RuntimeError
    assert type(exc_of("out_buffer_not_tensor")[0]) is AttributeError
    assert type(exc_of("req_to_token_1d_indexerror")[0]) is IndexError
    assert type(exc_of("page_size_zero_division")[0]) is ZeroDivisionError
    exc, _ = exc_of("width_message_unnamed")
    assert type(exc) is ValueError and "width" not in str(exc) and "req_to_token" not in str(exc)
    exc, got = exc_of("page_table_short_written_first")
    assert type(exc) is ValueError and got["out"].cache_seqlens.tolist() == [3]
    exc, got = exc_of("seq_lens_negative_modified")
    assert type(exc) is ValueError and got["seq_lens"].tolist() == [0]


def test_dsa_sum_below_int32_bug():
    """66000 rows of one padded request (s 0): dsa_cu_seqlens_k runs below -2**31."""
    kw = _kw(VAR, [0], ext=[66000], K=MAX, W=1)
    want_exc, _ = _run(rt().correct, kw)
    assert isinstance(want_exc, ValueError) and "dsa_cu_seqlens_k" in str(want_exc)
    assert _run(rt().dsa_sum_below_int32, kw)[0] is None
    for valid in VALID[:2]:
        _valid_right("dsa_sum_below_int32", valid)


def _neg(kw, row, col):
    kw = copy.deepcopy(kw)
    kw["req_to_token"][row, col] = -1
    return kw


REJECTED = {
    "reject_kv_below_e": _kw("draft_extend", [1], N=2),
    "reject_extend_above_next_n": _kw(VAR, [3], ext=[2], N=1),
    "reject_negative_past_width": _neg(_kw("decode", [2], cols=5), 0, 4),
    "reject_negative_zero_extend_row": _neg(_kw(VAR, [2, 2], ext=[0, 1]), 0, 0),
    "reject_s_plus_n_any_mode": _kw("decode", [MAX]),
    "reject_large_next_n": _kw("decode", [3], N=5000),
    "reject_large_topk": _kw("decode", [3], K=2**25),
    "reject_real_page_extra_columns": _kw("decode", [3], P=2, rpt_cols=3),
}


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_reject_bug_refuses_a_valid_input(name):
    kw = REJECTED[name]
    assert _run(rt().correct, kw)[0] is None
    assert isinstance(_run(getattr(rt(), name), kw)[0], ValueError)
    for valid in PLAIN:
        _valid_right(name, valid)


@pytest.mark.parametrize("name", ["correct", "correct_wrapped_messages", "correct_env_guard_first"])
def test_correct_error_candidates(name):
    fn = getattr(rt(), name)
    for kw in VALID if name != "correct_env_guard_first" else [VALID[0], VALID[-1]]:
        _valid_right(name, kw)
    for bad, kind, arg in BAD.values():
        if name == "correct_env_guard_first" and bad["mode"] != "decode":
            continue  # outside its envelope: it names `mode` (see the hunt)
        exc, got = _run(fn, bad)
        assert isinstance(exc, kind) and arg in str(exc) and _same(got, bad), (name, exc)


def _strided(kw):
    kw = copy.deepcopy(kw)
    kw["seq_lens"] = torch.stack([kw["seq_lens"], kw["seq_lens"]], 1)[:, 0]
    return kw


def _offset(kw, pad=5):
    kw = copy.deepcopy(kw)
    s = kw["seq_lens"]
    kw["seq_lens"] = torch.cat([torch.full((pad,), 9, dtype=s.dtype), s])[pad:]
    return kw


P64 = dict(P=64, W=70)
ENV_CASES = {  # candidate -> (inside, outside): valid calls
    "correct_env_decode_p64": (
        [_kw("decode", [3, 1], **P64), _kw("decode", [], **P64)],
        [
            _kw("target_verify", [3], N=2, **P64),
            _kw("decode", [3], P=2),
            _kw("decode", [3], P=64, W=4096),
        ],
    ),
    "correct_env_int32_n4": (
        [_kw("target_verify", [3], N=4), _kw("decode", [5, 0], N=4)],
        [
            _kw("decode", [5], N=4, K=7),
            _kw("decode", [5], N=1),
            _kw("decode", [5], N=4, dt=I64),
            _strided(_kw("decode", [5, 1], N=4)),
        ],  # fmt: skip
    ),
    "correct_env_var_small": (
        [_kw(VAR, [3, 1], ext=[2, 0]), _kw(VAR, [0] * 8, ext=[1] * 8)],
        [_kw(VAR, [0] * 9, ext=[1] * 9), _kw(VAR, [], ext=[]), _kw("decode", [3])],
    ),
    "correct_cli_env_tv": (
        [_kw("target_verify", [3, 1, 0], N=2)],
        [_kw("target_verify", [3] * 4, N=2), _kw("decode", [3]), _kw("target_verify", [3], P=2)],
    ),
}


@pytest.mark.parametrize("name", sorted(ENV_CASES))
def test_correct_envelope_candidates(name):
    m = rt()
    fn = getattr(m, name)
    env = getattr(fn, "envelope", None) or m.CLI_TV
    assert name != "correct_cli_env_tv" or not hasattr(fn, "envelope")
    inside, outside = ENV_CASES[name]
    for kw in inside:
        assert m.outside(kw, env) is None
        _valid_right(name, kw)
    for kw in outside:
        assert m.outside(kw, env) is not None
        exc, got = _run(fn, kw)
        want_exc, want = _run(m.correct, kw)
        assert want_exc is None and (exc is not None or not _same(got, want)), name


def test_envelopes_are_the_fuzzers_keys():
    from fuzz.cli import main  # noqa: F401 - the CLI parses --envelope with these keys

    m = rt()
    keys = {"modes", "page_sizes", "next_n", "max_width", "topk", "dtypes", "contiguous",
            "bs", "max_bs", "empty_batch"}  # fmt: skip
    for name in dir(m):
        env = getattr(getattr(m, name), "envelope", None)
        if isinstance(env, dict):
            assert set(env) <= keys, name


def _refilled(kw):
    """Call 2 on call 1's very tensors, req_to_token rewritten in place."""
    kw2 = dict(kw)
    kw2["req_to_token"].add_(1)
    return kw2


ENV_BUGS = {  # bug -> (a valid call inside its envelope that it gets wrong, one it gets right)
    "env_p64_partial_page": (_kw("decode", [3], **P64), _kw("decode", [3], P=64, W=128)),
    "env_p64_width_below_page": (
        _kw("decode", [3], r=[1], P=64, W=5),
        _kw("decode", [3], r=[1], P=64, W=64),
    ),
    "env_draft_extend_padding": (_kw("draft_extend", [1], N=4), _kw("draft_extend", [4], N=4)),
    "env_topk2048_over": (_kw("decode", [2049], K=2048), _kw("decode", [2048], K=2048)),
    "env_max_bs8_at_8": (_kw("decode", [1] * 8), _kw("decode", [1] * 7)),
    "env_bs_list_at_128": (_kw("target_verify", [0] * 128), _kw("target_verify", [0] * 16)),
    "env_int64_float_lengths": (
        _kw("decode", [2**24 + 1], dt=I64),
        _kw("decode", [2**24 + 2], dt=I64),
    ),
    "env_var_all_zero": (_kw(VAR, [3], ext=[0]), _kw(VAR, [3], ext=[1])),
    "cli_env_tv_kv_plus_one": (_kw("target_verify", [3], N=2), _kw("target_verify", [3], N=1)),
    "env_contiguous_offset": (_offset(_kw("decode", [3])), _kw("decode", [3])),
}


@pytest.mark.parametrize("name", sorted(ENV_BUGS))
def test_envelope_bug_wrong_inside(name):
    m = rt()
    fn = getattr(m, name)
    env = getattr(fn, "envelope", None) or m.CLI_TV_N
    kw, fine = ENV_BUGS[name]
    assert m.outside(kw, env) is None and m.outside(fine, env) is None
    exc, got = _run(fn, kw)
    want_exc, want = _run(m.correct, kw)
    assert want_exc is None and exc is None and not _same(got, want), name
    _valid_right(name, fine)


def test_envelope_bug_stale_pool_rows():
    m = rt()
    kw = _kw("draft_extend", [3, 2], N=2)
    kw2 = copy.deepcopy(kw)
    m.env_stale_pool_rows(**kw2)
    m.env_stale_pool_rows(**_refilled(kw2))
    want = copy.deepcopy(kw)
    m.correct(**want)
    m.correct(**_refilled(want))
    assert not torch.equal(kw2["out"].page_table_1, want["out"].page_table_1)
    fresh = copy.deepcopy(kw)
    m.env_stale_pool_rows(**fresh)  # a first call on fresh buffers is right
    assert torch.equal(fresh["out"].page_table_1, kw2["out"].page_table_1)  # call 1's rows
    assert torch.equal(want["out"].page_table_1[:4], kw2["out"].page_table_1[:4] + 1)
