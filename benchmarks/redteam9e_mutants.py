"""Red-team round 9e: v2 candidates that are wrong on ONE kind of bad input (the error contract,
`--check-errors`), wrong on one VALID edge they reject, or that declare an envelope.

Written blind to the fuzzer's generators, from CONTRACT_V2.md alone. Every candidate wraps the
shipped `nsa_meta.metadata(..., backend="torch")`: the error ones let its validation name the
fault, then misbehave on one kind only (wrong type, unnamed message, a write or an input change
before raising, silent acceptance); `reject_*` raise on one valid edge; `env_*` declare an
envelope and are wrong on one family inside it; `correct*` are right (the envelope ones wrong
or raising OUTSIDE their envelope only). `HUNT` lists them for benchmarks/hunt.py, with the
extra CLI arguments each campaign needs (`--check-errors`, `--envelope`).
"""

from __future__ import annotations

import json
import re

import torch

import nsa_meta
from nsa_meta.metadata import Metadata

MAX = 2**31 - 1
MODES = ("decode", "target_verify", "draft_extend", "draft_extend_var")
ERR = ["--check-errors"]


def _call(kw: dict, validate: bool = True, **sub) -> None:
    a = {**kw, **sub}
    nsa_meta.metadata(
        a["mode"],
        a["seq_lens"],
        a["req_pool_indices"],
        a["req_to_token"],
        topk=a["topk"],
        width=a["width"],
        page_size=a["page_size"],
        next_n=a["next_n"],
        extend_seq_lens=a["extend_seq_lens"],
        backend="torch",
        out=a["out"],
        validate=validate,
    )


def correct(**kw) -> None:
    """The whole contract: the shipped torch backend, validation on."""
    _call(kw)


def correct_wrapped_messages(**kw) -> None:
    """Right: re-raises each error as the same type with its own prefix (the argument named)."""
    try:
        _call(kw)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"fill_metadata: {exc} (see CONTRACT_V2)") from exc


def _rows_per_request(kw: dict) -> torch.Tensor:
    """e[i] as int64 (valid scalars assumed)."""
    bs = kw["seq_lens"].numel()
    if kw["mode"] == "draft_extend_var":
        return kw["extend_seq_lens"].to(torch.int64)
    fixed = 1 if kw["mode"] == "decode" else kw["next_n"]
    return torch.full((bs,), fixed, dtype=torch.int64)


def _on_error(pattern: str, action, when=lambda kw, m: True):
    """A candidate right everywhere except on the bad input whose shipped message matches
    `pattern` (and `when`): there it runs `action(kw, match, exc)` instead of raising."""

    def candidate(**kw) -> None:
        try:
            _call(kw)
        except (TypeError, ValueError) as exc:
            m = re.search(pattern, str(exc))
            if m is None or not when(kw, m):
                raise
            return action(kw, m, exc)

    return candidate


# --- wrong on one kind of bad input -----------------------------------------------------------

next_n_unchecked_decode = _on_error(
    r"^next_n is -?\d+;",
    lambda kw, m, e: _call(kw, next_n=1),
    lambda kw, m: kw["mode"] in ("decode", "draft_extend_var"),
)
next_n_unchecked_decode.__doc__ = "next_n out of range accepted where it is unused (decode, var)."

next_n_bool_decode = _on_error(
    r"^next_n must be an int, got bool",
    lambda kw, m, e: _call(kw, next_n=int(kw["next_n"])),
    lambda kw, m: kw["mode"] == "decode",
)
next_n_bool_decode.__doc__ = "bool next_n in decode taken as int (True silently, False ValueError)."

page_size_over_int32 = _on_error(
    r"^page_size is (\d+);",
    lambda kw, m, e: _call(kw, page_size=MAX),
    lambda kw, m: int(m.group(1)) > MAX,
)
page_size_over_int32.__doc__ = "page_size >= 2**31 accepted (checked only >= 1)."

topk_over_int32 = _on_error(
    r"^topk is (\d+);",
    lambda kw, m, e: _call(kw, topk=MAX),
    lambda kw, m: int(m.group(1)) > MAX,
)
topk_over_int32.__doc__ = "topk >= 2**31 clamped to 2**31 - 1 silently."


def _pool_zero_extend(kw, m, exc):
    e = kw["extend_seq_lens"].to(torch.int64)
    r = kw["req_pool_indices"]
    pool = kw["req_to_token"].shape[0]
    bad = ((r < 0) | (r >= pool)) & (e == 0)
    return _call(kw, req_pool_indices=torch.where(bad, torch.zeros_like(r), r))


pool_index_zero_extend = _on_error(
    r"^req_pool_indices\[(\d+)\] is",
    _pool_zero_extend,
    lambda kw, m: (
        kw["mode"] == "draft_extend_var" and int(kw["extend_seq_lens"][int(m.group(1))]) == 0
    ),
)
pool_index_zero_extend.__doc__ = "A pool index out of range taken when its request reads no row."

negative_cell_last_column = _on_error(
    r"^req_to_token\[(\d+), (\d+)\] is -",
    lambda kw, m, e: _call(kw, validate=False),
    lambda kw, m: int(m.group(2)) == kw["width"] - 1,
)
negative_cell_last_column.__doc__ = "Negative cells checked in columns [0, W - 1) only."


def _wrap_int32(kw, m, exc):
    s32 = kw["seq_lens"].to(torch.int32)  # wraps modulo 2**32
    if bool((s32 < 0).any()):
        raise exc
    return _call(kw, seq_lens=s32)


seq_lens_int64_wraps = _on_error(
    r"^seq_lens\[\d+\] is (\d+); seq lengths",
    _wrap_int32,
    lambda kw, m: kw["seq_lens"].dtype == torch.int64 and int(m.group(1)) > MAX,
)
seq_lens_int64_wraps.__doc__ = "int64 seq_lens cast to int32 before the range check (2**32 + k)."

kv_overflow_wraps = _on_error(
    r"kv = seq_lens \+ next_n",
    lambda kw, m, e: _call(kw, seq_lens=kw["seq_lens"].clamp(max=MAX - kw["next_n"])),
)
kv_overflow_wraps.__doc__ = "target_verify's s + N above int32 not checked (int32 sum wraps)."

dsa_sum_below_int32 = _on_error(
    r"dsa_cu_seqlens_k\[\d+\] = -\d+",
    lambda kw, m, e: _call(kw, validate=False),
)
dsa_sum_below_int32.__doc__ = "dsa_cu_seqlens_k checked only from above (padded rows sum below)."

cu_sum_over_int32 = _on_error(
    r"gives cu_seqlens_k\[\d+\]",
    lambda kw, m, e: _call(kw, validate=False),
)
cu_sum_over_int32.__doc__ = "cu_seqlens_k's running sum past int32 not checked."


def _numel_overflow(kw, m, exc):
    raise RuntimeError("numel: integer multiplication overflow")


total_over_int32_runtimeerror = _on_error(
    r"^sum\(extend_seq_lens\) is \d+; T must", _numel_overflow
)
total_over_int32_runtimeerror.__doc__ = "T past int32 in draft_extend_var: a bare RuntimeError."

out_plain_tuple = _on_error(
    r"^out must be a nsa_meta.Metadata",
    lambda kw, m, e: _call(kw, out=Metadata(*kw["out"])),
    lambda kw, m: isinstance(kw["out"], (tuple, list)) and len(kw["out"]) == 7,
)
out_plain_tuple.__doc__ = "out as a plain tuple (or list) of seven buffers taken as a Metadata."


def _no_dtype(kw, m, exc):
    buf = getattr(kw["out"], m.group(1))
    raise AttributeError(f"'{type(buf).__name__}' object has no attribute 'dtype'")


out_buffer_not_tensor = _on_error(r"^out\.(\w+) must be a torch.Tensor", _no_dtype)
out_buffer_not_tensor.__doc__ = "An out buffer that is not a tensor: AttributeError from deep."


def _int64_buffer(kw, m, exc):
    name = m.group(1)
    buf = getattr(kw["out"], name)
    if buf.dtype not in (torch.int64, torch.int16, torch.uint8, torch.int8):
        raise exc
    tmp = buf.to(torch.int32)
    _call(kw, out=kw["out"]._replace(**{name: tmp}))
    buf.copy_(tmp)


out_int_buffer_accepted = _on_error(r"^out\.(\w+) has dtype torch\.u?int", _int64_buffer)
out_int_buffer_accepted.__doc__ = "An out buffer of another integer dtype written through a cast."


def _rows(kw) -> int:
    return int(_rows_per_request(kw).sum())


def _floor_pages(kw, m, exc):
    out, rows = kw["out"], _rows(kw)
    have, need = int(m.group(1)), int(m.group(2))
    wide = torch.zeros(out.real_page_table.shape[0], need, dtype=torch.int32)
    _call(kw, out=out._replace(real_page_table=wide))
    out.real_page_table[:rows, :have] = wide[:rows, :have]


real_page_floor_columns = _on_error(
    r"^out\.real_page_table has (\d+) columns but (\d+) are needed",
    _floor_pages,
    lambda kw, m: int(m.group(1)) == int(m.group(2)) - 1 and kw["width"] % kw["page_size"] != 0,
)
real_page_floor_columns.__doc__ = (
    "real_page_table sized W // P (floor) accepted; last page dropped."
)


def _write_then_raise(kw, m, exc):
    s = kw["seq_lens"].to(torch.int64)
    kv = s + kw["next_n"] if kw["mode"] == "target_verify" else s
    kw["out"].cache_seqlens[: s.numel()] = kv.to(torch.int32)
    raise exc


page_table_short_written_first = _on_error(
    r"^out\.page_table_1 has \d+ columns but", _write_then_raise
)
page_table_short_written_first.__doc__ = "A too-narrow page_table_1 found after cache_seqlens."


def _unnamed(kw, m, exc):
    raise ValueError(f"page source too narrow: {m.group(1)} < {kw['width']}")


width_message_unnamed = _on_error(r"^req_to_token has (\d+) columns but width is", _unnamed)
width_message_unnamed.__doc__ = "req_to_token narrower than width: a message naming neither."


def _repeat_negative(kw, m, exc):
    e = kw["extend_seq_lens"].cpu().to(torch.int64)
    torch.repeat_interleave(torch.arange(e.numel()), e)  # RuntimeError: repeats negative
    raise exc


extend_negative_runtimeerror = _on_error(r"^extend_seq_lens\[\d+\] is -", _repeat_negative)
extend_negative_runtimeerror.__doc__ = "A negative extend: torch's RuntimeError from deep."


def _clamp_then_raise(kw, m, exc):
    kw["seq_lens"].clamp_(min=0)
    raise exc


seq_lens_negative_modified = _on_error(r"^seq_lens\[\d+\] is -", _clamp_then_raise)
seq_lens_negative_modified.__doc__ = "A negative s: raises right, after clamping seq_lens in place."


def _second_dim(kw, m, exc):
    kw["req_to_token"].shape[1]  # IndexError for 0-D and 1-D
    raise exc


req_to_token_1d_indexerror = _on_error(r"^req_to_token must be 2-D", _second_dim)
req_to_token_1d_indexerror.__doc__ = "A 0-D or 1-D req_to_token: IndexError from shape[1]."

seq_lens_2d_flattened = _on_error(
    r"^seq_lens must be 1-D",
    lambda kw, m, e: _call(kw, seq_lens=kw["seq_lens"].reshape(-1)),
)
seq_lens_2d_flattened.__doc__ = "A seq_lens of another rank flattened (taken if bs elements)."


def _divide(kw, m, exc):
    -(-kw["width"] // kw["page_size"])  # ZeroDivisionError
    raise exc


page_size_zero_division = _on_error(r"^page_size is 0;", _divide)
page_size_zero_division.__doc__ = "page_size 0: ZeroDivisionError from ceil(W / P)."

width_zero_accepted = _on_error(r"^width is 0;", lambda kw, m, e: None)
width_zero_accepted.__doc__ = "width 0 accepted: nothing written, no error."

var_rows_short_accepted = _on_error(
    r"^out\.\w+ has \d+ rows but \d+ are needed \(T is",
    lambda kw, m, e: _call(kw, validate=False),
)
var_rows_short_accepted.__doc__ = "draft_extend_var rows past a buffer's capacity dropped quietly."


# --- reject one VALID edge (a valid-input failure, with or without --check-errors) ------------


def _reject(test, message):
    def candidate(**kw) -> None:
        if test(kw):
            raise ValueError(message)
        _call(kw)

    return candidate


def _kv_below_e(kw) -> bool:
    if kw["mode"] not in ("draft_extend", "draft_extend_var"):
        return False
    return bool((kw["seq_lens"].to(torch.int64) < _rows_per_request(kw)).any())


reject_kv_below_e = _reject(_kv_below_e, "seq_lens: a request shorter than its extend")
reject_kv_below_e.__doc__ = "Rejects padded requests (kv < e) in the draft-extend modes."


def _extend_above_next_n(kw) -> bool:
    return kw["mode"] == "draft_extend_var" and bool((kw["extend_seq_lens"] > kw["next_n"]).any())


reject_extend_above_next_n = _reject(_extend_above_next_n, "extend_seq_lens above next_n")
reject_extend_above_next_n.__doc__ = "Rejects accept lengths above next_n (valid: N is unused)."


def _read_rows(kw, all_requests: bool):
    r = kw["req_pool_indices"].to(torch.int64)
    return r if all_requests else r[_rows_per_request(kw) > 0]


reject_negative_past_width = _reject(
    lambda kw: bool((kw["req_to_token"][_read_rows(kw, False)] < 0).any()),
    "req_to_token: negative cell in a row read",
)
reject_negative_past_width.__doc__ = "Rejects negative cells in columns >= W of the rows read."

reject_negative_zero_extend_row = _reject(
    lambda kw: bool((kw["req_to_token"][_read_rows(kw, True), : kw["width"]] < 0).any()),
    "req_to_token: negative cell",
)
reject_negative_zero_extend_row.__doc__ = "Rejects negative cells of a request with e = 0."

reject_s_plus_n_any_mode = _reject(
    lambda kw: bool((kw["seq_lens"].to(torch.int64) + kw["next_n"] > MAX).any()),
    "seq_lens + next_n above 2**31 - 1",
)
reject_s_plus_n_any_mode.__doc__ = "The kv bound of target_verify applied in every mode."

reject_large_next_n = _reject(lambda kw: kw["next_n"] > 4096, "next_n above 4096")
reject_large_next_n.__doc__ = "Rejects next_n > 4096 in every mode (valid in decode and var)."

reject_large_topk = _reject(lambda kw: kw["topk"] > 2**24, "topk above 2**24")
reject_large_topk.__doc__ = "Rejects topk > 2**24 (valid up to 2**31 - 1)."


def _real_extra_columns(kw) -> bool:
    rpt = kw["out"].real_page_table
    return rpt is not None and rpt.shape[1] != -(-kw["width"] // kw["page_size"])


reject_real_page_extra_columns = _reject(_real_extra_columns, "out.real_page_table: wrong width")
reject_real_page_extra_columns.__doc__ = "Rejects a real_page_table wider than ceil(W / P)."


# --- envelopes ----------------------------------------------------------------------------------


def _tensors(kw) -> list[torch.Tensor]:
    ins = [kw["seq_lens"], kw["req_pool_indices"], kw["req_to_token"], kw["extend_seq_lens"]]
    return [t for t in [*ins, *kw["out"]] if t is not None]


def outside(kw: dict, env: dict) -> str | None:
    """What of a VALID call lies outside `env` (None: inside)."""
    bs = kw["seq_lens"].numel()
    checks = {
        "modes": lambda v: kw["mode"] in v,
        "page_sizes": lambda v: kw["page_size"] in v,
        "next_n": lambda v: kw["next_n"] in v,
        "topk": lambda v: kw["topk"] in v,
        "max_width": lambda v: kw["width"] <= v,
        "bs": lambda v: bs in v,
        "max_bs": lambda v: bs <= v,
        "empty_batch": lambda v: v or bs > 0,
        "dtypes": lambda v: all(
            str(t.dtype).removeprefix("torch.") in v
            for t in (kw["seq_lens"], kw["req_pool_indices"], kw["extend_seq_lens"])
            if t is not None
        ),
        "contiguous": lambda v: not v or all(t.is_contiguous() for t in _tensors(kw)),
    }
    for key, value in env.items():
        if not checks[key](value):
            return key
    return None


def _corrupt(kw) -> None:
    """A wrong answer: cache_seqlens[0] off by one, or cu_seqlens_k[0] 5 at bs 0."""
    out = kw["out"]
    if kw["seq_lens"].numel() > 0:
        out.cache_seqlens[0] += 1
    else:
        out.cu_seqlens_k[0] = 5


def _enveloped(env: dict, bug=None, outside_action=_corrupt, cli: bool = False):
    """Right inside `env` (but for `bug(kw)`, run after the right answer), `outside_action`
    outside it; `env` is the attribute unless `cli` (then given by --envelope)."""

    def candidate(**kw) -> None:
        _call(kw)
        if outside(kw, env) is not None:
            return outside_action(kw)
        if bug is not None:
            bug(kw)

    if not cli:
        candidate.envelope = dict(env)
    return candidate


def _raise_outside(kw):
    raise NotImplementedError(f"outside the envelope: {kw['mode']}")


DECODE_P64 = {"modes": ["decode"], "page_sizes": [64], "max_width": 2048}
INT32_N4 = {"dtypes": ["int32"], "contiguous": True, "topk": [2048], "next_n": [4]}
VAR_SMALL = {"modes": ["draft_extend_var"], "max_bs": 8, "empty_batch": False}
CLI_TV = {"modes": ["target_verify"], "page_sizes": [1], "bs": [1, 2, 3]}
CLI_TV_N = {"modes": ["target_verify"], "next_n": [1, 2, 3]}

correct_env_decode_p64 = _enveloped(DECODE_P64)
correct_env_decode_p64.__doc__ = "Decode, page 64, W <= 2048; wrong outside."
correct_env_decode_p64_errors = correct_env_decode_p64  # hunted with --check-errors
correct_env_int32_n4 = _enveloped(INT32_N4, outside_action=_raise_outside)
correct_env_int32_n4.__doc__ = "int32, contiguous, topk 2048, next_n 4; raises outside."
correct_env_var_small = _enveloped(VAR_SMALL)
correct_env_var_small.__doc__ = "draft_extend_var, 1 <= bs <= 8; wrong outside."
correct_cli_env_tv = _enveloped(CLI_TV, cli=True)
correct_cli_env_tv.__doc__ = "Envelope on the command line: target_verify, page 1, bs 1-3."


def correct_env_guard_first(**kw) -> None:
    """Decode only, guarded FIRST: any other known mode raises ValueError naming `mode` before
    looking at the other arguments (a bad call outside the envelope gets that)."""
    if isinstance(kw["mode"], str) and kw["mode"] in MODES and kw["mode"] != "decode":
        raise ValueError(f"mode {kw['mode']!r} is not supported by this kernel (decode only)")
    _call(kw)


correct_env_guard_first.envelope = {"modes": ["decode"]}


def _before(kw) -> dict:
    return {n: (b.clone() if b is not None else None) for n, b in kw["out"]._asdict().items()}


def _enveloped_restore(env, pick, cli=False):
    """Inside `env`, the cells `pick(kw)` names ([(buffer, index)]) keep their old value."""

    def candidate(**kw) -> None:
        old = _before(kw)
        _call(kw)
        if outside(kw, env) is not None:
            return _corrupt(kw)
        for name, index in pick(kw):
            getattr(kw["out"], name)[index] = old[name][index]

    if not cli:
        candidate.envelope = dict(env)
    return candidate


def _last_page(kw):
    P, W = kw["page_size"], kw["width"]
    if W % P == 0:
        return []
    return [("real_page_table", (slice(0, _rows(kw)), -(-W // P) - 1))]


env_p64_partial_page = _enveloped_restore(DECODE_P64, _last_page)
env_p64_partial_page.__doc__ = "Decode, page 64: the last, partial page of a W % 64 != 0 unwritten."


def _below_page(kw):
    if kw["width"] < kw["page_size"]:
        rows = _rows(kw)
        kw["out"].real_page_table[:rows, 0] = kw["out"].page_table_1[:rows, 0]


env_p64_width_below_page = _enveloped(DECODE_P64, _below_page)
env_p64_width_below_page.__doc__ = "Decode, page 64: W < 64 copies the token, not token // 64."


def _clamp_padding(kw):
    rows = _rows(kw)
    kw["out"].seqlens_expanded[:rows].clamp_(min=0)


env_draft_extend_padding = _enveloped({"modes": ["draft_extend"], "next_n": [4]}, _clamp_padding)
env_draft_extend_padding.__doc__ = "draft_extend N 4: seqlens_expanded of padded rows clamped at 0."


def _over_topk(kw):
    rows = _rows(kw)
    out = kw["out"]
    over = out.seqlens_expanded[:rows] > kw["topk"]
    out.dsa_cache_seqlens[:rows][over] = kw["topk"] - 1


env_topk2048_over = _enveloped({"topk": [2048], "modes": ["decode", "target_verify"]}, _over_topk)
env_topk2048_over.__doc__ = "topk 2048: rows longer than 2048 get 2047."

_seen: dict[int, tuple] = {}


def env_stale_pool_rows(**kw) -> None:
    """draft_extend, int32, contiguous: a page_table_1 row whose request reads the same pool
    row of the same req_to_token as last call is not gathered again (stale after a refill)."""
    out = kw["out"]
    old = out.page_table_1.clone()
    _call(kw)
    if outside(kw, env_stale_pool_rows.envelope) is not None:
        return _corrupt(kw)
    key = out.page_table_1.data_ptr()
    r = kw["req_pool_indices"].tolist()
    now = (kw["req_to_token"].data_ptr(), kw["width"], kw["next_n"], r)
    last = _seen.get(key)
    _seen[key] = now
    if last is None or last[:3] != now[:3]:
        return
    n = kw["next_n"]
    for i, (a, b) in enumerate(zip(r, last[3])):
        if a == b:
            rows = slice(i * n, (i + 1) * n)
            out.page_table_1[rows, : kw["width"]] = old[rows, : kw["width"]]


env_stale_pool_rows.envelope = {"dtypes": ["int32"], "contiguous": True, "modes": ["draft_extend"]}

env_max_bs8_at_8 = _enveloped_restore(
    {"max_bs": 8, "empty_batch": False},
    lambda kw: [("cache_seqlens", 7)] if kw["seq_lens"].numel() == 8 else [],
)
env_max_bs8_at_8.__doc__ = "max_bs 8: at bs 8 exactly, cache_seqlens[7] unwritten."

env_bs_list_at_128 = _enveloped_restore(
    {"bs": [1, 16, 128], "modes": ["target_verify"]},
    lambda kw: [("cu_seqlens_k", 128)] if kw["seq_lens"].numel() == 128 else [],
)
env_bs_list_at_128.__doc__ = "bs in {1, 16, 128}: at 128, cu_seqlens_k[128] unwritten."


def _float_lengths(kw):
    rows = _rows(kw)
    kw["out"].seqlens_expanded[:rows] = kw["seq_lens"].to(torch.float32).to(torch.int32)


env_int64_float_lengths = _enveloped({"dtypes": ["int64"], "modes": ["decode"]}, _float_lengths)
env_int64_float_lengths.__doc__ = "int64 decode: seqlens_expanded through float32 (s > 2**24)."

env_var_all_zero = _enveloped_restore(
    {"modes": ["draft_extend_var"], "page_sizes": [1]},
    lambda kw: (
        [("cache_seqlens", slice(0, kw["seq_lens"].numel())), ("dsa_cu_seqlens_k", 0)]
        if kw["seq_lens"].numel() > 0 and _rows(kw) == 0
        else []
    ),
)
env_var_all_zero.__doc__ = "draft_extend_var, page 1: all-zero extends return early (T = 0)."


def _kv_plus_one(kw):
    n = kw["next_n"]
    kw["out"].cache_seqlens[: kw["seq_lens"].numel()] -= n - 1


cli_env_tv_kv_plus_one = _enveloped(CLI_TV_N, _kv_plus_one, cli=True)
cli_env_tv_kv_plus_one.__doc__ = (
    "Envelope on the CLI (target_verify, N 1-3): kv = s + 1, not s + N."
)


def _ignore_offset(**kw) -> None:
    s = kw["seq_lens"]
    base = torch.empty(0, dtype=s.dtype).set_(s.untyped_storage(), 0, s.shape, s.stride())
    _call(kw, seq_lens=base)


def env_contiguous_offset(**kw) -> None:
    """Contiguous: seq_lens read from its storage's start (its storage offset ignored)."""
    _ignore_offset(**kw)


env_contiguous_offset.envelope = {"contiguous": True}

# (name, op, family, extra CLI arguments)
HUNT = [
    ("correct", "metadata", "no bug: the whole contract", ERR),
    ("correct_wrapped_messages", "metadata", "no bug: own message prefix", ERR),
    ("next_n_unchecked_decode", "metadata", "next_n out of range in decode/var", ERR),
    ("next_n_bool_decode", "metadata", "bool next_n in decode", ERR),
    ("page_size_over_int32", "metadata", "page_size >= 2**31", ERR),
    ("topk_over_int32", "metadata", "topk >= 2**31", ERR),
    ("pool_index_zero_extend", "metadata", "pool index out of range, e = 0", ERR),
    ("negative_cell_last_column", "metadata", "negative cell at column W - 1", ERR),
    ("seq_lens_int64_wraps", "metadata", "s = 2**32 + k", ERR),
    ("kv_overflow_wraps", "metadata", "s + N above int32 (target_verify)", ERR),
    ("dsa_sum_below_int32", "metadata", "dsa_cu_seqlens_k below int32", ERR),
    ("cu_sum_over_int32", "metadata", "cu_seqlens_k above int32", ERR),
    ("total_over_int32_runtimeerror", "metadata", "T > 2**31 - 1 in var", ERR),
    ("out_plain_tuple", "metadata", "out a plain tuple", ERR),
    ("out_buffer_not_tensor", "metadata", "out buffer not a tensor", ERR),
    ("out_int_buffer_accepted", "metadata", "out buffer int64", ERR),
    ("real_page_floor_columns", "metadata", "real_page_table W // P columns", ERR),
    ("page_table_short_written_first", "metadata", "narrow page_table_1, wrote first", ERR),
    ("width_message_unnamed", "metadata", "req_to_token narrower than width", ERR),
    ("extend_negative_runtimeerror", "metadata", "negative extend", ERR),
    ("seq_lens_negative_modified", "metadata", "negative s, input changed", ERR),
    ("req_to_token_1d_indexerror", "metadata", "req_to_token 0-D/1-D", ERR),
    ("seq_lens_2d_flattened", "metadata", "seq_lens 2-D of bs elements", ERR),
    ("page_size_zero_division", "metadata", "page_size 0", ERR),
    ("width_zero_accepted", "metadata", "width 0", ERR),
    ("var_rows_short_accepted", "metadata", "var buffers short of T rows", ERR),
    ("reject_kv_below_e", "metadata", "valid: kv < e", []),
    ("reject_extend_above_next_n", "metadata", "valid: extend > next_n", []),
    ("reject_negative_past_width", "metadata", "valid: negative cell past W", []),
    ("reject_negative_zero_extend_row", "metadata", "valid: negative cell, e = 0", []),
    ("reject_s_plus_n_any_mode", "metadata", "valid: s + N > int32 outside tv", []),
    ("reject_large_next_n", "metadata", "valid: next_n > 4096 in decode/var", []),
    ("reject_large_topk", "metadata", "valid: topk > 2**24", []),
    ("reject_real_page_extra_columns", "metadata", "valid: wider real_page_table", []),
    ("correct_env_decode_p64", "metadata", "envelope decode/p64/W<=2048", []),
    ("correct_env_decode_p64_errors", "metadata", "same, with --check-errors", ERR),
    ("correct_env_int32_n4", "metadata", "envelope int32/contig/topk/next_n", []),
    ("correct_env_var_small", "metadata", "envelope var, bs 1-8", []),
    ("correct_cli_env_tv", "metadata", "envelope on the CLI", ["--envelope", json.dumps(CLI_TV)]),
    ("correct_env_guard_first", "metadata", "decode, mode guarded first", ERR),
    ("env_p64_partial_page", "metadata", "inside: W % 64 != 0", []),
    ("env_p64_width_below_page", "metadata", "inside: W < 64", []),
    ("env_draft_extend_padding", "metadata", "inside: kv < e at N 4", []),
    ("env_topk2048_over", "metadata", "inside: lengths > topk 2048", []),
    ("env_stale_pool_rows", "metadata", "inside: refilled req_to_token", []),
    ("env_max_bs8_at_8", "metadata", "inside: bs = max_bs", []),
    ("env_bs_list_at_128", "metadata", "inside: bs 128 of a list", []),
    ("env_int64_float_lengths", "metadata", "inside: int64 s > 2**24", []),
    ("env_var_all_zero", "metadata", "inside: all-zero extends", []),
    (
        "cli_env_tv_kv_plus_one",
        "metadata",
        "CLI envelope: N >= 2",
        ["--envelope", json.dumps(CLI_TV_N)],
    ),
    ("env_contiguous_offset", "metadata", "inside: contiguous with offset", []),
]
