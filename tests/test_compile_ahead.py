"""Compile-ahead helpers (fuzz/compile_ahead.py): they run the very cases the campaign's
worker then runs (same opening, same Hypothesis rounds), they end on a hung call, and the
campaign leaves none of them behind."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from fuzz import compile_ahead
from fuzz.campaign import Options
from fuzz.compile_ahead import Helpers, default_helpers
from fuzz.meta_campaign import campaign_class
from fuzz.procs import alive

RECORDING = str(Path(__file__).parent / "candidates" / "recording.py")


def _records(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"worker": [], "helper": []}
    for line in path.read_text().splitlines():
        role, digest = line.split()
        out[role].append(digest)
    return out


def _helpers_alive(mark: str) -> list[int]:
    """Live helpers whose command line (their config) holds `mark`."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"fuzz.compile_ahead" in cmd and mark.encode() in cmd and alive(int(pid)):
            found.append(int(pid))
    return found


@pytest.mark.slow  # helpers run to their end, then a whole campaign: about 5 s and 10 s
@pytest.mark.parametrize(
    "op,fn,named", [("metadata", "metadata", False), ("expand", "expand", True)]
)
def test_helpers_run_the_cases_the_worker_runs(tmp_path, monkeypatch, op, fn, named):
    """Helpers run to their end first, then the campaign alone: every call its worker made
    (v1's opening, 29 cases, and rounds; v2's rounds: its opening, 134 cases, is sliced by
    the same line) was made by a helper before."""
    record = tmp_path / "record"
    monkeypatch.setenv("NSA_RECORD", str(record))
    o = Options(
        max_cases=40,
        candidates=[f"{RECORDING}:{fn}"],
        corpus_dir=tmp_path / "corpus",
        op=op,
        timeout=30.0,
        named=named,
    )
    helpers = Helpers(o, 2, rounds=3, idle=None)
    helpers.start()
    try:
        for p in helpers.procs:
            assert p.wait(timeout=120) == 0
    finally:
        helpers.close()
    ahead = set(_records(record)["helper"])
    campaign = campaign_class(op)(o)
    campaign.run()
    assert not campaign.errors and len(campaign.book) == 0
    assert campaign.cases == o.max_cases and 1 <= campaign.rounds <= 3
    worker = _records(record)["worker"]
    assert worker and ahead
    assert [d for d in worker if d not in ahead] == []


@pytest.mark.slow
def test_a_campaign_ends_its_helpers(tmp_path, monkeypatch):
    monkeypatch.setenv("NSA_RECORD", str(tmp_path / "record"))
    o = Options(
        max_cases=40,
        candidates=[f"{RECORDING}:expand"],
        corpus_dir=tmp_path / "corpus",
        compile_ahead=2,
    )
    campaign = campaign_class("expand")(o)
    campaign.run()
    assert not campaign.errors and campaign.cases == 40
    assert _helpers_alive(str(o.corpus_dir)) == [], (
        "the campaign left a compile-ahead helper running"
    )


def test_a_helper_that_meets_no_new_variant_ends(tmp_path, monkeypatch):
    """On the CPU nothing compiles: after IDLE items (no opening here) the helper ends, long
    before its 40 rounds."""
    record = tmp_path / "record"
    monkeypatch.setenv("NSA_RECORD", str(record))
    o = Options(candidates=[f"{RECORDING}:expand"], corpus_dir=tmp_path, named=False)
    helpers = Helpers(o, 1, idle=5)
    helpers.start()
    try:
        assert helpers.procs[0].wait(timeout=60) == 0
    finally:
        helpers.close()
    assert _records(record)["helper"] and len(_records(record)["helper"]) == 5


def test_a_helper_that_meets_no_triton_kernel_ends_in_the_opening(tmp_path, monkeypatch):
    """A torch candidate (on the CPU nothing compiles either): the helper ends after
    NO_JIT_ITEMS items, inside v1's opening of 29 cases."""
    record = tmp_path / "record"
    monkeypatch.setenv("NSA_RECORD", str(record))
    o = Options(candidates=[f"{RECORDING}:expand"], corpus_dir=tmp_path)
    helpers = Helpers(o, 1)
    helpers.start()
    try:
        assert helpers.procs[0].wait(timeout=60) == 0
    finally:
        helpers.close()
    assert len(_records(record)["helper"]) == compile_ahead.NO_JIT_ITEMS


def test_a_hung_call_ends_its_helper(tmp_path, monkeypatch):
    monkeypatch.setenv("NSA_RECORD", str(tmp_path / "record"))
    o = Options(candidates=[f"{RECORDING}:spins"], timeout=1.0, corpus_dir=tmp_path)
    helpers = Helpers(o, 1)
    helpers.start()
    try:
        proc = helpers.procs[0]
        proc.wait(timeout=60)  # imports, one call, then the watchdog's second
        assert (tmp_path / "record").read_text().startswith("helper ")
    finally:
        helpers.close()


def test_close_kills_a_running_helper(tmp_path, monkeypatch):
    monkeypatch.setenv("NSA_RECORD", str(tmp_path / "record"))
    o = Options(candidates=[f"{RECORDING}:spins"], timeout=600.0, corpus_dir=tmp_path)
    helpers = Helpers(o, 2)
    helpers.start()
    procs = list(helpers.procs)
    deadline = time.monotonic() + 60
    while not (tmp_path / "record").exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # a helper is inside the spinning call
    helpers.close()
    assert all(p.poll() is not None for p in procs)
    assert helpers.procs == []


def test_helpers_by_default_only_on_cuda_with_something_to_compile(monkeypatch):
    monkeypatch.setattr(compile_ahead.os, "cpu_count", lambda: 16)
    assert default_helpers("cuda", ["f.py:fn"]) == 12
    assert default_helpers("cuda:1", ["f.py:fn"]) == 12
    assert default_helpers("cpu", ["f.py:fn"]) == 0
    assert default_helpers("cuda", []) == 0
    # the built-ins alone: only the Triton backend compiles anything
    assert default_helpers("cuda", [], ["reference", "triton", "torch"]) == 12
    assert default_helpers("cuda", [], ["reference", "torch", "legacy"]) == 0
    assert default_helpers("cpu", [], ["reference", "triton"]) == 0
    monkeypatch.setattr(compile_ahead.os, "cpu_count", lambda: 8)
    assert default_helpers("cuda", ["f.py:fn"]) == 4
    monkeypatch.setattr(compile_ahead.os, "cpu_count", lambda: 64)
    assert default_helpers("cuda", ["f.py:fn"]) == compile_ahead.MAX_HELPERS
    monkeypatch.setattr(compile_ahead.os, "cpu_count", lambda: 4)
    assert default_helpers("cuda", ["f.py:fn"]) == 0


DRY = """
import sys, torch, triton, triton.language as tl
from fuzz.compile_ahead import count_variants, dry_launches
dry = sys.argv[1] == "dry"
if dry:
    assert dry_launches()
seen = count_variants()

@triton.jit
def write_seven(p, n):
    tl.store(p + tl.arange(0, 16), 7, mask=tl.arange(0, 16) < n)

x = torch.zeros(16, device="cuda", dtype=torch.int32)
write_seven[(1,)](x, 16)
write_seven[(1,)](x, 15)  # another variant: 15 is not a multiple of 16
write_seven[(1,)](x, 16)  # the first again: no new variant
torch.cuda.synchronize()
print(int(x.sum()), seen[0])
"""


@pytest.mark.gpu
@pytest.mark.parametrize("how,written", [("dry", 0), ("real", 7 * 16)])
def test_dry_launches_compile_but_never_run(tmp_path, how, written):
    """With dry_launches the kernel compiles (two variants met) and writes nothing; without,
    the same script writes its cells (so the check can fail)."""
    import subprocess
    import sys

    env = {**os.environ, "TRITON_CACHE_DIR": str(tmp_path / "cache")}
    root = str(Path(__file__).parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    script = tmp_path / "dry.py"  # Triton reads a kernel's source from its file
    script.write_text(DRY)
    done = subprocess.run(
        [sys.executable, str(script), how], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [str(written), "2"]
    assert any((tmp_path / "cache").rglob("*.cubin"))


@pytest.mark.slow
def test_helpers_given_items_run_exactly_their_share(tmp_path, monkeypatch):
    """A replay's helpers: items h, h + H, ... each, then done; the items file is removed."""
    record = tmp_path / "record"
    monkeypatch.setenv("NSA_RECORD", str(record))
    from fuzz.strategies import named_cases

    cases = list(named_cases().values())[:9]
    items = [{"case": c.to_json()} for c in cases]
    o = Options(candidates=[f"{RECORDING}:expand"], corpus_dir=tmp_path)
    helpers = Helpers(o, 2, idle=None, items=items)
    helpers.start()
    path = helpers.items_file
    try:
        assert all(p.wait(timeout=60) == 0 for p in helpers.procs)
    finally:
        helpers.close()
    assert path is not None and not os.path.exists(path)
    assert len(_records(record)["helper"]) == len(items)


@pytest.mark.slow  # a whole replay of the shipped seeds on the CLI, with helpers
def test_replay_on_the_cli_starts_and_ends_its_helpers(tmp_path):
    import subprocess
    import sys

    record = tmp_path / "record"
    env = {**os.environ, "NSA_RECORD": str(record)}
    root = Path(__file__).parents[1]
    mine = tmp_path / "recording.py"  # its path marks this test's helpers
    mine.write_text(Path(RECORDING).read_text())
    done = subprocess.run(
        [sys.executable, "-m", "fuzz", "replay", "--op", "metadata", "--candidate",
         f"{mine}:metadata", "--compile-ahead", "2", str(root / "fuzz" / "seeds")],
        capture_output=True, text=True, env=env, cwd=root, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    seen = _records(record)
    assert seen["helper"] and seen["worker"]
    assert _helpers_alive(str(tmp_path)) == []


HOSTILE = str(Path(__file__).parent / "candidates" / "hostile.py")


def _settled(check, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while not check() and time.monotonic() < end:
        time.sleep(0.05)
    return check()


@pytest.mark.parametrize("fn", ["daemonises", "daemonises_and_hangs"])
def test_a_daemon_the_candidate_starts_goes_with_its_helper(tmp_path, fn):
    """A double fork and setsid out of the helper's session (a compile server): the helper
    adopts it and kills it when it ends on its own; close() freezes a running helper and
    kills what is below it. On the old code the daemons slept on (12 of them after a 15 s
    GPU campaign of round 2's `correct_leaves_session`)."""
    mark = str(tmp_path)  # in the helper's config, so in its forks' command lines too
    o = Options(candidates=[f"{HOSTILE}:{fn}"], timeout=600.0, corpus_dir=tmp_path)
    helpers = Helpers(o, 1)
    helpers.start()
    try:
        if fn == "daemonises":  # it ends on its own after NO_JIT_ITEMS calls
            assert helpers.procs[0].wait(timeout=60) == 0
        else:  # the helper and its daemon, then close() while the call hangs
            assert _settled(lambda: len(_helpers_alive(mark)) >= 2, 60), _helpers_alive(mark)
    finally:
        helpers.close()
    assert _settled(lambda: not _helpers_alive(mark)), _helpers_alive(mark)


def test_a_helpers_watchdog_does_not_count_a_triton_compile(monkeypatch) -> None:
    """A helper's call that compiles: the watchdog's start moves past the compile (a helper
    ended by its watchdog mid-compile left the worker to compile again: ptxas 40 s on one
    variant of red-team 12's kernel, H100)."""
    import triton.compiler

    from fuzz.compile_ahead import _WatchedCall
    from fuzz.worker import forgive_compiles

    seen = []

    def slow_compile(*args, **kwargs):
        seen.append(cell[0])  # what the watchdog sees while it compiles
        time.sleep(0.2)
        return "compiled"

    monkeypatch.setattr(triton.compiler, "compile", slow_compile)
    cell = [0.0]
    assert forgive_compiles(_WatchedCall(cell))
    cell[0] = began = time.monotonic()
    assert triton.compiler.compile() == "compiled"
    assert seen == [0.0]  # paused: no watchdog kill while compiling
    assert cell[0] >= began + 0.2  # the call's start moved past the compile
    assert not forgive_compiles(_WatchedCall(cell))  # routed once, not twice


def test_a_helper_without_a_candidate_calls_the_builtin_triton_as_the_campaign_does(
    monkeypatch,
):
    """With no candidate a helper runs each item through the built-in Triton backend, call
    by call on one set of buffers, with the case's validation (it picks the launch's plan:
    the variants the campaign's own process then finds compiled); bad calls launch nothing."""
    import nsa_meta
    from fuzz.meta_contract import named_bad_cases
    from fuzz.meta_strategies import named_cases

    seen = []

    def spy(mode, *args, **kw):
        seen.append((mode, kw["backend"], kw["validate"], kw["out"]))

    monkeypatch.setattr(nsa_meta, "metadata", spy)
    from nsa_meta import metadata_triton, triton_kernel

    for module in (metadata_triton, triton_kernel):  # _fns turns their fast path off
        monkeypatch.setattr(module._fast, "on", module._fast.on)
    fns = compile_ahead._fns(Options(builtins=["reference", "triton"], op="metadata"))
    assert fns == [compile_ahead.BUILTIN]
    cases = [c for c in named_cases(None).values() if len(c.calls) > 1 and c.out != "none"]
    case = cases[0]
    compile_ahead.call(fns[0], {"op": "metadata", "case": case.to_json()}, "cpu")
    assert [m for m, *_ in seen] == [c.mode for c in case.calls]
    assert {(b, v) for _, b, v, _ in seen} == {("triton", case.validate)}
    assert len({id(o.cache_seqlens) for *_, o in seen}) == 1  # one set of buffers
    seen.clear()
    bad_case, fault = next(iter(named_bad_cases(None).values()))
    item = {"op": "metadata", "case": bad_case.to_json(), "fault": fault.to_json()}
    compile_ahead.call(fns[0], item, "cpu")
    assert seen == []
