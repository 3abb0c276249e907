"""fuzz/envelope.py: a malformed envelope is a usage error naming its key; a declared one keeps
every drawn case (Hypothesis, bulk, named) inside it; restrict moves a case in; the report
lines say what was left out.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import find, given

from fuzz import bulk
from fuzz.case import Case, Fault, Layout
from fuzz.contract import INT32_MAX, NAMED_CASES
from fuzz.envelope import EVERYTHING, Envelope, EnvelopeError
from fuzz.strategies import REFILL_CASES, bad_calls, batches, cases, named_cases

INT32_ONLY = Envelope.parse(
    {"dtypes": ["int32"], "contiguous": True, "topk": [2048], "bs": [1, 16, 128]},
    source="test",
)
SMALL = Envelope.parse({"max_bs": 6, "empty_batch": False, "dtypes": ["int64"]}, source="test")


# --- reading one ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "key"),
    [
        ({"dtype": ["int32"]}, "dtype"),
        ({"dtypes": "int32"}, "dtypes"),
        ({"dtypes": []}, "dtypes"),
        ({"dtypes": ["float32"]}, "dtypes"),
        ({"contiguous": 1}, "contiguous"),
        ({"topk": [-1]}, "topk"),
        ({"topk": [2**31]}, "topk"),
        ({"topk": [True]}, "topk"),
        ({"bs": [1.5]}, "bs"),
        ({"max_bs": "8"}, "max_bs"),
        ({"empty_batch": "no"}, "empty_batch"),
        ({"bs": [300], "max_bs": 10}, "bs"),
        ({"max_bs": 0, "empty_batch": False}, "max_bs"),
        ({"modes": ["decode", "prefill"]}, "modes"),
        ({"page_sizes": [0]}, "page_sizes"),
        ({"next_n": []}, "next_n"),
        ({"max_width": 0}, "max_width"),
    ],
)
def test_a_bad_key_or_value_is_named_with_its_source(obj: dict, key: str) -> None:
    with pytest.raises(EnvelopeError, match=rf"from my_kernel\.envelope: .*'{key}'") as err:
        Envelope.parse(obj, source="my_kernel.envelope")
    assert isinstance(err.value, ValueError)


def test_not_a_dict_is_refused_and_none_allows_everything() -> None:
    with pytest.raises(EnvelopeError, match="--envelope: must be a JSON object"):
        Envelope.parse(["int32"], source="--envelope")
    assert Envelope.parse(None, source="x") == EVERYTHING and not EVERYTHING.restricts
    assert EVERYTHING.left_out() == [] and EVERYTHING.to_json() == {}


def test_every_key_round_trips_through_json() -> None:
    obj = {
        "dtypes": ["int32"],
        "contiguous": True,
        "topk": [2048, 0],
        "bs": [16, 1],
        "max_bs": 64,
        "empty_batch": False,
        "modes": ["decode", "draft_extend_var"],
        "page_sizes": [1, 64],
        "next_n": [4],
        "max_width": 2048,
    }
    env = Envelope.parse(obj, source="t")
    assert (
        env.topk == (0, 2048) and env.bs == (1, 16) and env.modes == ("decode", "draft_extend_var")
    )
    assert Envelope.parse(json.loads(json.dumps(env.to_json())), source="t") == env


def test_the_cli_takes_json_or_a_file(tmp_path) -> None:
    assert Envelope.from_cli('{"topk": [2048]}').topk == (2048,)
    path = tmp_path / "env.json"
    path.write_text('{"bs": [1, 16]}')
    assert Envelope.from_cli(f"@{path}").bs == (1, 16)
    assert Envelope.from_cli(None) == EVERYTHING
    with pytest.raises(EnvelopeError, match="cannot read"):
        Envelope.from_cli(f"@{tmp_path / 'missing.json'}")
    with pytest.raises(EnvelopeError, match="not JSON"):
        Envelope.from_cli("{topk: 1}")
    path.write_text('{"bs": [1], "colour": "red"}')
    with pytest.raises(EnvelopeError, match=rf"--envelope @{path}: unknown key 'colour'"):
        Envelope.from_cli(f"@{path}")


def test_the_function_attribute_wins_over_the_cli() -> None:
    def kernel(e, s, k):
        return e, s

    cli = Envelope.from_cli('{"topk": [7]}')
    assert Envelope.of(kernel, cli) == cli
    assert Envelope.of(kernel, None) == EVERYTHING
    kernel.envelope = {"dtypes": ["int32"]}
    assert Envelope.of(kernel, cli) == Envelope(dtypes=("int32",))
    kernel.envelope = {"dtypes": ["int8"]}
    with pytest.raises(EnvelopeError, match=r"kernel\.envelope: 'dtypes'"):
        Envelope.of(kernel, cli)


# --- what it admits ---------------------------------------------------------------------------


def test_admits_checks_each_feature() -> None:
    inside = Case((1,) * 16, (5,) * 16, 2048, Layout("int32", 1, 3))
    assert INT32_ONLY.admits(inside)
    assert INT32_ONLY.violations(Case((1,), (5,), 9)) == {"topk"}
    assert INT32_ONLY.violations(Case((1, 2), (5, 6), 2048)) == {"bs"}
    assert INT32_ONLY.violations(Case((1,), (5,), 2048, Layout("int64"))) == {"dtypes"}
    assert INT32_ONLY.violations(Case((1,), (5,), 2048, Layout("int32", 2))) == {"contiguous"}
    assert not SMALL.admits(Case((), (), 0, Layout("int64"), Layout("int64")))


def test_a_fault_may_break_the_envelope_only_where_it_breaks_the_call() -> None:
    case = Case((1,), (5,), 2048)
    assert INT32_ONLY.admits_fault(case, Fault("extend_dtype", "float32"))
    assert INT32_ONLY.admits_fault(case, Fault("topk_too_large", 2**31))
    assert INT32_ONLY.admits_fault(replace_seq(case, Layout("int64")), Fault("seq_negative", -1))
    # The valid part must lie inside: an int64 seq_lens beside a bad extend is not put.
    assert not INT32_ONLY.admits_fault(replace_seq(case, Layout("int64")), Fault("extend_dtype"))
    assert not INT32_ONLY.admits_fault(Case((1,), (5,), 9), Fault("seq_negative", -1))
    with pytest.raises(ValueError, match="fault.kind 'nonsense'"):
        INT32_ONLY.admits_fault(case, Fault("nonsense"))


def replace_seq(case: Case, layout: Layout) -> Case:
    return Case(
        case.extend_seq_lens, case.seq_lens, case.nsa_index_topk, case.extend_layout, layout
    )


# --- moving a case inside -----------------------------------------------------------------------


def test_restrict_moves_every_feature_inside() -> None:
    case = Case((2, 1, 3), (5, 8, 4), 6, Layout("int64", 3, 2), Layout("int32", 0, 1))
    case = Case(case.extend_seq_lens, (7, 7, 7), 6, case.extend_layout, case.seq_layout)
    moved = INT32_ONLY.restrict(case)
    assert moved == Case((2,), (7,), 2048, Layout("int32", 1, 2), Layout("int32", 1, 1))


def test_restrict_cuts_or_repeats_the_batch_and_refuses_an_empty_one() -> None:
    big = Case(tuple(range(200)), tuple(range(200, 400)), 2048)
    assert INT32_ONLY.restrict(big).extend_seq_lens == tuple(range(128))
    grown = INT32_ONLY.restrict(Case((1, 2), (5, 6), 2048))
    assert grown.extend_seq_lens == (1,)
    assert Envelope(bs=(16,)).restrict(Case((1, 2), (5, 6), 9)).extend_seq_lens == (1, 2) * 8
    assert Envelope(empty_batch=False).restrict(Case((), (), 9)) is None
    assert SMALL.restrict(Case((1,) * 9, (3,) * 9, 9)).bs == 6
    assert INT32_ONLY.restrict(Case((4,), (9,), 2050)).nsa_index_topk == 2048
    inside = Case((1,), (5,), 2048)
    assert INT32_ONLY.restrict(inside) is inside


@given(cases())
def test_restrict_always_lands_inside_and_stays_a_valid_call(case: Case) -> None:
    for env in (INT32_ONLY, SMALL, Envelope(topk=(0, INT32_MAX), bs=(3,))):
        moved = env.restrict(case)
        if moved is None:
            assert case.bs == 0 and not env.allows_bs(0)
            continue
        assert env.admits(moved)
        moved.expected()
        moved.tensors()


# --- drawing only inside ----------------------------------------------------------------------


@given(cases(envelope=INT32_ONLY))
def test_hypothesis_cases_stay_inside(case: Case) -> None:
    assert INT32_ONLY.admits(case), case.describe()


@given(batches(min_size=2, max_size=6, envelope=SMALL))
def test_hypothesis_batches_stay_inside(batch: list[Case]) -> None:
    assert all(SMALL.admits(c) for c in batch)


@given(bad_calls(with_out=True, envelope=INT32_ONLY))
def test_bad_calls_keep_their_valid_part_inside(bad: tuple[Case, Fault]) -> None:
    case, fault = bad
    assert INT32_ONLY.admits(case) and INT32_ONLY.admits_fault(case, fault)


def test_every_allowed_batch_size_is_reachable() -> None:
    for size in INT32_ONLY.bs:
        found = find(cases(envelope=INT32_ONLY), lambda c, n=size: c.bs == n)
        assert found.bs == size and INT32_ONLY.admits(found)


def test_bulk_draws_only_inside() -> None:
    for env in (INT32_ONLY, SMALL):
        batch = bulk.draw(np.random.default_rng(5), 400, env)
        assert all(env.admits(batch.case(i)) for i in range(batch.bs.size))
    batch = bulk.draw(np.random.default_rng(5), 400, INT32_ONLY)
    assert set(batch.bs.tolist()) == {1, 16, 128} and set(batch.topk.tolist()) == {2048}
    assert (batch.offset_e > 0).any()  # contiguous still allows storage offsets


def test_bulk_draws_the_same_without_a_restriction() -> None:
    plain = bulk.draw(np.random.default_rng(9), 300)
    same = bulk.draw(np.random.default_rng(9), 300, EVERYTHING)
    assert all(np.array_equal(getattr(plain, f), getattr(same, f)) for f in ("ext", "seq", "bs"))


def test_named_cases_move_inside_or_are_left_out() -> None:
    assert named_cases() == {**NAMED_CASES, **REFILL_CASES} == named_cases(EVERYTHING)
    inside = named_cases(INT32_ONLY)
    assert inside and all(INT32_ONLY.admits(c) for c in inside.values())
    assert len(set(inside.values())) == len(inside)  # no case twice
    assert "empty batch" not in inside  # an empty batch cannot be moved into bs [1, 16, 128]
    assert inside["contract example (inside the envelope)"] == Case((3,), (10,), 2048)
    assert all(SMALL.admits(c) for c in named_cases(SMALL).values())


# --- what the report says -----------------------------------------------------------------------


def test_left_out_names_each_restriction() -> None:
    text = "\n".join(INT32_ONLY.left_out())
    assert "int64" in text and "2048" in text and "1, 16, 128" in text and "stride" in text
    lines = SMALL.left_out()
    assert any("int32" in line for line in lines)
    assert any("above 6" in line for line in lines)
    assert any("empty batch" in line for line in lines)
    v2 = Envelope.parse({"modes": ["decode"], "max_width": 64}, source="t").left_out()
    assert any("decode" in line for line in v2) and any("64" in line for line in v2)
