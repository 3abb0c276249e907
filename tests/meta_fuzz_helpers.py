"""Shared by the tests of the v2 fuzzer: the red-team candidates (benchmarks/redteam_mutants.py,
loaded by path: benchmarks/ is not a package), a fixed sample of the generator, a search of
its draws, and a candidate run and judged in this process as a worker would."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, Phase, find, given, seed, settings

import nsa_meta
from fuzz.meta_case import MetaCase, poison_again
from fuzz.meta_harness import storage_arrays
from fuzz.meta_judge import MetaMismatch, judge_sequence, plan
from fuzz.meta_strategies import meta_cases
from fuzz.meta_worker import call_candidate

ROOT = Path(__file__).resolve().parents[1]


@cache
def benchmark_module(name: str):
    """benchmarks/<name>.py as a module (loaded once): the red-team mutant files."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def searched(strategy, hit, *, draws: int = 2000):
    """The first draw of `strategy` for which `hit` holds, within `draws` (derandomized, no
    shrinking): a search, not a fixed sample (Hypothesis biases draws by the constants of
    the modules loaded, so a fixed sample moves with the tests that ran before)."""
    return find(
        strategy,
        hit,
        settings=settings(
            max_examples=draws, database=None, derandomize=True, deadline=None,
            phases=[Phase.generate], suppress_health_check=list(HealthCheck),
        ),
    )  # fmt: skip


def torch_candidate(**kw) -> None:
    """A correct v2 candidate: nsa_meta's torch backend into the caller's buffers."""
    nsa_meta.metadata(
        kw["mode"], kw["seq_lens"], kw["req_pool_indices"], kw["req_to_token"],
        topk=kw["topk"], width=kw["width"], page_size=kw["page_size"], next_n=kw["next_n"],
        extend_seq_lens=kw["extend_seq_lens"], backend="torch", out=kw["out"],
    )  # fmt: skip


def redteam():
    """benchmarks/redteam_mutants.py as a module."""
    return benchmark_module("redteam_mutants")


def drawn(n: int, *, derandomize: bool = False) -> list[MetaCase]:
    """The generator's first n cases, the same whatever ran before: Hypothesis's seed 0, or
    its derandomized sample (each test keeps the sample its thresholds were set on)."""
    got: list[MetaCase] = []

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        derandomize=derandomize,
        suppress_health_check=list(HealthCheck),
    )
    @given(meta_cases())
    def collect(case):
        got.append(case)

    collect = collect if derandomize else seed(0)(collect)
    collect()
    return got


def judged_here(fn, case: MetaCase, impl: str = "rt") -> MetaMismatch | None:
    """Run `fn` (a v2 candidate) on every call of `case` here, judged as the parent judges
    a worker's answer; the verdict (signatures name `impl`)."""
    out = case.buffers("cpu")
    calls = []
    args = None
    for k, call in enumerate(case.calls):
        args = case.call_args(k, "cpu", args)
        if case.repoison and k:
            poison_again(out)
        call_candidate(fn, case, call, args, out)
        calls.append(storage_arrays(out, args))
    return judge_sequence(impl, plan(case), calls)
