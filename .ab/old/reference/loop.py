"""Pure-Python oracle, written as the original SGLang loop: one request at a time.

Read it beside `init_forward_metadata_replay_cuda_graph` in SGLang's nsa_backend.py:
`for qo, kv in zip(extend_seq_lens, seq_lens): append range(kv - qo + 1, kv + 1)`.
"""

from collections.abc import Sequence

INT32_MAX = 2**31 - 1


def _check_ints(name: str, values: Sequence[int]) -> None:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence of ints, got {type(values).__name__}")
    if all(type(v) is int for v in values):  # the common case, without a per-item branch
        return
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name}[{i}] is {v!r} ({type(v).__name__}); expected int")


def validate(extend_seq_lens: Sequence[int], seq_lens: Sequence[int], nsa_index_topk: int) -> None:
    """The contract's error list, for Python sequences."""
    _check_ints("extend_seq_lens", extend_seq_lens)
    _check_ints("seq_lens", seq_lens)
    if isinstance(nsa_index_topk, bool) or not isinstance(nsa_index_topk, int):
        raise TypeError(f"nsa_index_topk must be an int, got {type(nsa_index_topk).__name__}")
    if len(extend_seq_lens) != len(seq_lens):
        raise ValueError(
            f"extend_seq_lens has length {len(extend_seq_lens)} but seq_lens has length "
            f"{len(seq_lens)}; one entry per request in both"
        )
    if extend_seq_lens and min(extend_seq_lens) < 0:
        i = next(i for i, qo in enumerate(extend_seq_lens) if qo < 0)
        raise ValueError(
            f"extend_seq_lens[{i}] is {extend_seq_lens[i]}; accept lengths must be >= 0"
        )
    if seq_lens and not 0 <= min(seq_lens) <= max(seq_lens) <= INT32_MAX:
        i = next(i for i, kv in enumerate(seq_lens) if not 0 <= kv <= INT32_MAX)
        raise ValueError(f"seq_lens[{i}] is {seq_lens[i]}; seq lengths must be in [0, 2**31 - 1]")
    if not 0 <= nsa_index_topk <= INT32_MAX:
        raise ValueError(f"nsa_index_topk is {nsa_index_topk}; it must be in [0, 2**31 - 1]")
    total = sum(extend_seq_lens)
    if total > INT32_MAX:
        raise ValueError(
            f"sum(extend_seq_lens) is {total}; the expanded length must be <= 2**31 - 1"
        )


def expand(
    extend_seq_lens: Sequence[int], seq_lens: Sequence[int], nsa_index_topk: int
) -> tuple[list[int], list[int]]:
    """Return (seqlens_expanded, nsa_cache_seqlens) as lists, per CONTRACT.md."""
    validate(extend_seq_lens, seq_lens, nsa_index_topk)
    seqlens_expanded: list[int] = []
    for qo, kv in zip(extend_seq_lens, seq_lens):
        seqlens_expanded.extend(range(kv - qo + 1, kv + 1))
    nsa_cache_seqlens = [min(v, nsa_index_topk) for v in seqlens_expanded]
    return seqlens_expanded, nsa_cache_seqlens
