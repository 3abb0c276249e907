"""Out buffers of any strides (CONTRACT_V2.md, "Writing into caller buffers"): the generator
draws page tables whose column stride is not 1 (transposed storage, every 2nd or 3rd storage
column) and a stride per 1-D buffer, the judge names a wrong cell for any strides, a
candidate that ignores a column stride is caught, and a corpus entry keeps the layout.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from meta_fuzz_helpers import judged_here, redteam, searched

import fuzz.meta_entry  # noqa: F401  (registers the "metadata" decoder)
from fuzz import corpus
from fuzz.meta_case import POISON, MetaCase
from fuzz.meta_entry import decode_meta_case
from fuzz.meta_harness import judge_answer
from fuzz.meta_judge import (
    MetaMismatch,
    after_call,
    decode_meta_answer,
    judge_call,
    plan,
)
from fuzz.meta_strategies import (
    TABLE_LAYOUTS,
    _call,
    _case,
    _odd_out,
    meta_cases,
    named_meta_cases,
)
from fuzz.meta_worker import run_item
from fuzz.worker import Runner

TRANSPOSED = "page tables of a transposed storage (column stride != 1)"
STEPPED = "page tables every 2nd and 3rd storage column"
VECTORS = "1-D buffers with a stride each"


RT = redteam()


def judged_by_worker(fn, case: MetaCase) -> MetaMismatch | None:
    """As a campaign judges a candidate: its isolated worker's item, decoded, judged."""
    item = {"op": "metadata", "case": case.to_json()}
    header, blobs = run_item(Runner(fn, "cpu", 1 << 30), item)
    return judge_answer("rt", plan(case), decode_meta_answer(header, blobs, item))


# --- the generator -----------------------------------------------------------------------------


def test_generator_draws_column_strided_page_tables() -> None:
    # A search, not a fixed sample: a derandomized sample moves with the constants of the
    # modules loaded (3 of 60 with page_table_1 column-strided once the width-change draw
    # came, 11 before). _odd_out strides page_table_1 whenever it strides real_page_table.
    real = searched(
        meta_cases(),
        lambda c: (
            c.page_size > 1 and c.pages > 1 and c.buffers("meta").real_page_table.stride(1) != 1
        ),
    )
    assert real.buffers("meta").page_table_1.stride(1) != 1 and real.odd_tables
    assert searched(meta_cases(), lambda c: c.table_pad and not c.odd_tables)  # row stride > width


def test_every_out_layout_is_drawn_for_each_table() -> None:
    base = _case(_call("decode", [4, 2], [1, 3]), width=6, page=2)
    got: list[MetaCase] = []

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(_odd_out(base))
    def collect(case):
        got.append(case)

    collect()
    for w in (0, 1):
        layouts = {(c.col_step[w], c.table_transposed[w]) for c in got}
        assert layouts == set(TABLE_LAYOUTS), (w, layouts)
    assert any(len(set(c.vec_strides)) > 1 for c in got)
    assert any(c.col_step[0] != c.col_step[1] for c in got)  # tables with their own layout


def test_named_cases_build_the_layouts_they_name() -> None:
    named = named_meta_cases()
    out = named[TRANSPOSED].buffers("cpu")
    for t in (out.page_table_1, out.real_page_table):
        assert t.stride(0) == 1 and t.stride(1) == t.shape[0] + 2  # 2 spare storage rows
    out = named[STEPPED].buffers("cpu")
    assert out.page_table_1.stride(1) == 2 and out.real_page_table.stride(1) == 3
    assert out.page_table_1.storage_offset() == 1
    out = named[VECTORS].buffers("cpu")
    assert [b.stride(0) for b in out[:5]] == [3, 1, 2, 3, 2]
    for t in out[:7]:
        if t is not None:  # the whole storage starts poisoned, not only the view
            flat = np.frombuffer(bytes(t.untyped_storage()), dtype=np.int32)
            assert (flat == POISON).all()


# --- the judge -------------------------------------------------------------------------------


def _flip(case: MetaCase, name: str, element: int) -> MetaMismatch | None:
    """Call 1 of `case` done right but storage element `element` of `name` wrong."""
    p = plan(case)
    got = after_call(p, p.start, 0)
    got[name] = got[name].copy()
    got[name][element] = 12345
    return judge_call("x", p, 0, p.start, got)


@pytest.mark.parametrize("named", [TRANSPOSED, STEPPED])
@pytest.mark.parametrize("name, cell", [("page_table_1", (3, 4)), ("real_page_table", (5, 1))])
def test_judge_names_the_cell_for_any_strides(named, name, cell) -> None:
    case = named_meta_cases()[named]
    buf = getattr(case.buffers("cpu"), name)
    r, c = cell
    element = buf.storage_offset() + r * buf.stride(0) + c * buf.stride(1)
    found = _flip(case, name, element)
    assert found.signature == f"metadata:x:values:{name}", found
    assert found.cause.startswith(f"{name}[{r}, {c}] is 12345, expected "), found.cause
    assert found.index == element


def test_judge_names_a_storage_element_outside_the_view() -> None:
    stepped = named_meta_cases()[STEPPED]
    buf = stepped.buffers("cpu").page_table_1
    gap = buf.storage_offset() + 2 * buf.stride(0) + 1  # between columns 0 and 1 of row 2
    found = _flip(stepped, "page_table_1", gap)
    assert found.signature == "metadata:x:outside-region:page_table_1", found
    assert found.cause.startswith(f"page_table_1 storage element {gap} (outside the view)")
    transposed = named_meta_cases()[TRANSPOSED]
    buf = transposed.buffers("cpu").real_page_table
    spare = buf.storage_offset() + buf.shape[0]  # a spare storage row of column 0
    found = _flip(transposed, "real_page_table", spare)
    assert found.signature == "metadata:x:outside-region:real_page_table", found
    assert f"real_page_table storage element {spare} (outside the view)" in found.cause
    rows = buf.shape[0] - 1  # in the view, past the region's rows: named by its cell
    found = _flip(transposed, "real_page_table", buf.storage_offset() + rows)
    assert found.cause.startswith(f"real_page_table[{rows}, 0] written"), found.cause


# --- the mutants --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutant, named, name",
    [
        ("page_table_col_stride_ignored", TRANSPOSED, "page_table_1"),
        ("page_table_col_stride_ignored", STEPPED, "page_table_1"),
        ("real_page_col_stride_ignored", TRANSPOSED, "real_page_table"),
        ("real_page_col_stride_ignored", STEPPED, "real_page_table"),
        ("vec_stride_from_cache_seqlens", VECTORS, "cu_seqlens_k"),
    ],
)
def test_a_candidate_ignoring_a_stride_is_caught(mutant, named, name) -> None:
    case = named_meta_cases()[named]
    assert judged_by_worker(RT.correct, case) is None
    found = judged_by_worker(getattr(RT, mutant), case)
    assert found is not None and found.signature == f"metadata:rt:values:{name}", found
    assert found.cause.startswith(f"{name}["), found.cause


def test_plain_tables_do_not_reveal_the_column_stride_bug() -> None:
    """Why the layout is drawn: on row-major page tables the bug is invisible."""
    case = replace(named_meta_cases()[STEPPED], col_step=(1, 1))
    assert judged_here(RT.page_table_col_stride_ignored, case) is None
    assert judged_here(RT.real_page_col_stride_ignored, case) is None


# --- corpus entries -------------------------------------------------------------------------


def test_corpus_entry_round_trips_the_layout(tmp_path: Path) -> None:
    case = replace(
        named_meta_cases()[STEPPED],
        table_transposed=(True, False),
        vec_strides=(2, 1, 1, 3, 1),
    )
    found = judged_here(RT.page_table_col_stride_ignored, case)
    path = corpus.save(tmp_path, found, case, None, device="cpu", seed=1, op="metadata")
    entry = corpus.load(path)
    assert entry.case == case and entry.signature == found.signature
    rebuilt, want = entry.case.buffers("cpu"), case.buffers("cpu")
    for a, b in zip(rebuilt, want):
        if a is not None:
            assert (a.stride(), a.storage_offset(), a.shape) == (
                b.stride(),
                b.storage_offset(),
                b.shape,
            )


def test_old_entries_decode_and_keep_their_bytes() -> None:
    plain = _case(_call("decode", [4, 2], [1, 3]), table_pad=3)
    data = plain.to_json()
    assert not {"col_step", "table_transposed", "vec_strides"} & set(data)
    back = decode_meta_case(json.dumps(data).encode(), max_total=2**22)
    assert back == plain and back.col_step == (1, 1) and back.vec_strides == ()
    bad = named_meta_cases()[STEPPED].to_json()
    bad["col_step"] = [2]
    with pytest.raises(ValueError, match="col_step"):
        decode_meta_case(json.dumps(bad).encode(), max_total=2**22)


def test_show_rebuilds_the_layout_and_passes() -> None:
    from fuzz.meta_show import reproducer

    case = named_meta_cases()[TRANSPOSED]
    found = judged_here(RT.real_page_col_stride_ignored, case)

    class Entry:
        fault = None
        signature, cause, impl, candidate = found.signature, found.cause, "torch", None
        data: dict = {}
        before = ()  # no calls saved before it

    Entry.case = case
    script = reproducer(Entry, lambda k, v: f"# {k}: {v}")
    assert "table_transposed" in script
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(script, "<show>", "exec"), {})
    assert printed.getvalue().strip() == "PASS"
