"""Red-team round 10 (benchmarks/redteam10_mutants.py): every planted error-contract bug is a
real one. On its smallest bad call both correct candidates raise the contract's exception,
naming the argument, with nothing written or modified; the mutant does not. On valid calls
every candidate writes what nsa_meta.metadata writes.
"""

from __future__ import annotations

import pytest
import torch
from meta_fuzz_helpers import benchmark_module

import nsa_meta

M = benchmark_module("redteam10_mutants")
I16, I32, I64 = torch.int16, torch.int32, torch.int64
VAR, DE, TV, DEC = "draft_extend_var", "draft_extend", "target_verify", "decode"
INT32_MAX = 2**31 - 1
POISON = -777


def _strided(values, dtype):
    """A view with stride 2 over a buffer whose gaps hold 9."""
    base = torch.full((2 * len(values) + 1,), 9, dtype=dtype)
    base[0 : 2 * len(values) : 2] = torch.tensor(values, dtype=dtype)
    return base[0 : 2 * len(values) : 2]


def make(
    mode=DEC, s=(5, 6), r=(0, 1), *, pool=2, cols=4, ext=None, topk=2048, next_n=2,
    page_size=1, width=None, dtype=I32, cell=None, strided=(), out=None, **override,
):  # fmt: skip
    """One call's keyword arguments, `out` exactly sized and poisoned; `cell` = (row, col,
    value) written into req_to_token; `out` edits the Metadata; `override` replaces any
    argument afterwards (a bad scalar, a bad tensor)."""
    width = cols if width is None else width
    rows = torch.tensor([[p * 100 + c for c in range(cols)] for p in range(pool)], dtype=I32)
    if cell is not None:
        rows[cell[0], cell[1]] = cell[2]
    if "column" in strided:  # a transposed view: column stride pool
        rows = rows.T.contiguous().T
    tensor = lambda v, name: (  # noqa: E731
        _strided(v, dtype) if name in strided else torch.tensor(v, dtype=dtype)
    )
    bs = len(s)
    e = list(ext) if ext is not None else [next_n if mode in (TV, DE) else 1] * bs
    T = max(0, sum(e))
    buffers = nsa_meta.allocate_metadata(bs, T, max(width, 1), page_size)
    buffers = nsa_meta.Metadata(*(None if b is None else b.fill_(POISON) for b in buffers))
    kw = dict(
        mode=mode,
        seq_lens=tensor(list(s), "seq_lens"),
        extend_seq_lens=None if ext is None else tensor(list(ext), "extend_seq_lens"),
        req_pool_indices=tensor(list(r), "req_pool_indices"),
        req_to_token=rows,
        topk=topk,
        next_n=next_n,
        page_size=page_size,
        width=width,
        out=buffers if out is None else out(buffers, T, bs),
    )
    kw.update(override)
    return kw


def _tensors(kw):
    out = kw["out"]
    fields = list(out) if isinstance(out, (tuple, list)) else []
    for t in [v for v in kw.values() if isinstance(v, torch.Tensor)] + fields:
        if isinstance(t, torch.Tensor) and t.device.type != "meta":
            yield t if t._base is None else t._base


def judge(fn, kw, exc, names) -> str:
    """'ok' when fn raises `exc` naming one of `names` with no tensor changed, else what
    went wrong."""
    before = [(t, t.clone()) for t in _tensors(kw)]
    try:
        fn(**kw)
    except Exception as err:  # noqa: BLE001 - judged below
        changed = [i for i, (t, old) in enumerate(before) if not torch.equal(t, old)]
        if not isinstance(err, exc):
            return f"raised {type(err).__name__}: {err}"
        if not any(n in str(err) for n in names):
            return f"message names none of {names}: {err}"
        return f"changed tensors {changed}" if changed else "ok"
    return "no exception"


def _shape(field, *shape, dtype=I32, device="cpu"):
    return lambda o, T, bs: o._replace(**{field: torch.zeros(shape, dtype=dtype, device=device)})


CELL = (1, 3, -1)  # a negative cell of pool row 1, read by request 1
# bug -> (smallest bad call, exception, names its message must hold, what the mutant does)
SMALLEST = {
    "pool_negative_skipped_decode": (make(r=(0, -1)), ValueError, ["req_pool_indices"]),
    "pool_past_skipped_target_verify": (make(TV, r=(0, 2)), ValueError, ["req_pool_indices"]),
    "cell_negative_skipped_draft_extend": (make(DE, cell=CELL), ValueError, ["req_to_token"]),
    "seq_negative_skipped_var": (make(VAR, s=(5, -1), ext=(1, 1)), ValueError, ["seq_lens"]),
    "next_n_range_only_where_used": ({**make(), "next_n": 0}, ValueError, ["next_n"]),
    "kv_target_verify_forgot_n": (make(TV, s=(INT32_MAX,), r=(0,)), ValueError, ["seq_lens"]),
    "extend_negative_skipped_int64": (
        make(VAR, ext=(1, -1), dtype=I64),
        ValueError,
        ["extend_seq_lens"],
    ),
    "pool_past_skipped_int32": (make(r=(0, 2)), ValueError, ["req_pool_indices"]),
    "extend_int16_accepted": (
        make(VAR, ext=(1, 1), extend_seq_lens=torch.tensor([1, 1], dtype=I16)),
        TypeError,
        ["extend_seq_lens"],
    ),
    "req_to_token_int64_value_error": (
        make(req_to_token=torch.zeros(2, 4, dtype=I64)),
        TypeError,
        ["req_to_token"],
    ),
    "extend_negative_first_skipped": (make(VAR, ext=(-1, 1)), ValueError, ["extend_seq_lens"]),
    "pool_last_skipped": (make(r=(0, -1)), ValueError, ["req_pool_indices"]),
    "seq_negative_middle_skipped": (make(s=(5, -1, 6), r=(0, 1, 0)), ValueError, ["seq_lens"]),
    "pool_skipped_bs1": (make(s=(5,), r=(-1,)), ValueError, ["req_pool_indices"]),
    "cell_first_request_only": (make(cell=CELL), ValueError, ["req_to_token"]),
    "extend_negative_skipped_strided": (
        make(VAR, ext=(1, -1), strided=("extend_seq_lens",)),
        ValueError,
        ["extend_seq_lens"],
    ),
    "cell_skipped_column_strided": (
        make(cell=CELL, strided=("column",)),
        ValueError,
        ["req_to_token"],
    ),
    "out_cache_short_by_one": (
        make(out=_shape("cache_seqlens", 1)),
        ValueError,
        ["cache_seqlens"],
    ),
    "out_cu_len_bs_accepted": (make(out=_shape("cu_seqlens_k", 2)), ValueError, ["cu_seqlens_k"]),
    "out_expanded_int64_accepted": (
        make(out=_shape("seqlens_expanded", 2, dtype=I64)),
        TypeError,
        ["seqlens_expanded"],
    ),
    "out_dsa_cache_rank_unchecked": (
        make(s=(5,), r=(0,), out=_shape("dsa_cache_seqlens", 1, 1)),
        ValueError,
        ["dsa_cache_seqlens"],
    ),
    "out_dsa_cu_short_by_one": (
        make(out=_shape("dsa_cu_seqlens_k", 2)),
        ValueError,
        ["dsa_cu_seqlens_k"],
    ),
    "out_page_table_one_column_short": (
        make(out=_shape("page_table_1", 2, 3)),
        ValueError,
        ["page_table_1"],
    ),
    "out_real_rows_unchecked": (
        make(page_size=2, out=_shape("real_page_table", 1, 2)),
        ValueError,
        ["real_page_table"],
    ),
    "out_real_device_unchecked": (
        make(page_size=2, out=_shape("real_page_table", 2, 2, device="meta")),
        ValueError,
        ["real_page_table"],
    ),
    "out_real_missing_accepted": (
        make(page_size=2, out=lambda o, T, bs: o._replace(real_page_table=None)),
        ValueError,
        ["real_page_table"],
    ),
    "out_real_given_p1_accepted": (
        make(out=_shape("real_page_table", 2, 4)),
        ValueError,
        ["real_page_table"],
    ),
    "out_plain_tuple_accepted": (make(out=lambda o, T, bs: tuple(o)), TypeError, ["out"]),
    "pool_equal_pool_accepted": (make(r=(0, 2)), ValueError, ["req_pool_indices"]),
    "width_columns_plus_one": ({**make(), "width": 5}, ValueError, ["req_to_token", "width"]),
    "topk_2p31_accepted": ({**make(), "topk": 2**31}, ValueError, ["topk"]),
    "page_size_2p31_accepted": (
        {**make(page_size=2, out=_shape("real_page_table", 2, 1)), "page_size": 2**31},
        ValueError,
        ["page_size"],
    ),
    "next_n_zero_accepted": ({**make(), "next_n": 0}, ValueError, ["next_n"]),
    "topk_bool_accepted": ({**make(), "topk": True}, TypeError, ["topk"]),
    "width_bool_accepted": ({**make(), "width": True}, TypeError, ["width"]),
    "mode_not_str_value_error": ({**make(), "mode": 1}, TypeError, ["mode"]),
    "dsa_sum_below_unchecked": (
        make(VAR, s=(0,), r=(0,), ext=(70_000,)),
        ValueError,
        ["dsa_cu_seqlens_k"],
    ),
    "cu_sum_unchecked": (make(s=(INT32_MAX, 1)), ValueError, ["seq_lens"]),
    "extend_given_draft_extend_accepted": (
        make(DE, extend_seq_lens=torch.tensor([2, 2], dtype=I32)),
        ValueError,
        ["extend_seq_lens"],
    ),
    "pool_longer_accepted": (
        make(req_pool_indices=torch.tensor([0, 1, 0], dtype=I32)),
        ValueError,
        ["req_pool_indices"],
    ),
    "pool_message_names_req_to_token": (make(r=(0, 2)), ValueError, ["req_pool_indices"]),
    "width_message_names_page_table": (
        {**make(), "width": 5},
        ValueError,
        ["req_to_token", "width"],
    ),
    "cell_check_after_first_phase": (make(cell=CELL), ValueError, ["req_to_token"]),
    "extend_clamped_before_raising": (make(VAR, ext=(1, -1)), ValueError, ["extend_seq_lens"]),
}


def test_every_bug_has_its_smallest_call():
    assert set(SMALLEST) == set(M.BUGS)
    assert len(M.HUNT) == len(M.BUGS) + 2
    assert all(entry[3] == ["--check-errors"] for entry in M.HUNT)


@pytest.mark.parametrize("bug", sorted(M.BUGS))
def test_bug_is_wrong_on_its_smallest_bad_call(bug):
    build, exc, names = SMALLEST[bug]
    for name in ("correct_lists", "correct_torch"):
        kw = {**build, "out": build["out"]}
        assert judge(getattr(M, name), _fresh(kw), exc, names) == "ok", name
    assert judge(getattr(M, bug), _fresh(build), exc, names) != "ok"


def _fresh(kw):
    """A copy of a call whose tensors (views rebuilt over copied bases) are new."""
    bases = {}

    def copy(t):
        if not isinstance(t, torch.Tensor) or t.device.type == "meta":
            return t
        base = t if t._base is None else t._base
        new = bases.setdefault(id(base), base.clone())
        return new.as_strided(t.shape, t.stride(), t.storage_offset() - base.storage_offset())

    out = kw["out"]
    if isinstance(out, nsa_meta.Metadata):
        out = nsa_meta.Metadata(*(copy(b) for b in out))
    elif isinstance(out, tuple):
        out = tuple(copy(b) for b in out)
    return {k: (out if k == "out" else copy(v)) for k, v in kw.items()}


VALID = [
    make(),
    make(s=(), r=()),
    make(s=(7,), r=(1,), topk=3),
    make(TV, s=(INT32_MAX - 2,), r=(1,), next_n=2, topk=0),
    make(DE, s=(1, 9), next_n=3, page_size=2, dtype=I64),
    make(VAR, s=(0, 4, 9), r=(1, 0, 1), ext=(3, 0, 2), strided=("seq_lens", "extend_seq_lens")),
    make(VAR, s=(4, 4), ext=(0, 0), page_size=3, width=2, cell=(0, 3, -5)),
    make(DEC, s=(INT32_MAX - 1, 1), cols=5, width=3, page_size=2, strided=("column",)),
]


@pytest.mark.parametrize("name", ["correct_lists", "correct_torch", *sorted(M.BUGS)])
def test_every_candidate_is_right_on_valid_calls(name):
    for call in VALID:
        mine, want = _fresh(call), _fresh(call)
        getattr(M, name)(**mine)
        args = {k: want[k] for k in ("mode", "seq_lens", "req_pool_indices", "req_to_token")}
        scalars = ("topk", "width", "page_size", "next_n", "extend_seq_lens", "out")
        nsa_meta.metadata(**args, **{k: want[k] for k in scalars}, backend="torch")
        for got, ref in zip(mine["out"], want["out"]):
            assert (got is None) == (ref is None)
            assert got is None or torch.equal(got, ref), (name, call["mode"])
