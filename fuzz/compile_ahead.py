"""Compile ahead: throwaway helper processes run a GPU campaign's cases before its worker
does, so that a JIT-compiled candidate (Triton) finds its variants in the shared disk cache.

Why: on a GPU such a campaign is compile-bound. Each new specialisation (dtypes, strides
== 1 or % 16, constexprs) compiles once, about 0.6 s. On an H100, the opening of
`benchmarks/outside_kernels.py`'s correct kernel met 57 of them: 35.5 s of its 37 s, against
1.7 s of running (benchmarks/opening_profile.py). With 12 helpers the campaign's opening
took 16.6 s instead of 37.4 s (benchmarks/results/h100/s19/c6).

Helper h of H runs the opening cases h, h + H, ..., then the campaign's own Hypothesis
rounds (same seeds, same strategy: a round that fails nothing draws the same cases), every
helper drawing each round and running items h, h + H, ... of it, ROUNDS_AHEAD rounds of
this unit's, and exits; after the opening it also exits once IDLE_ITEMS items in a row met
no new Triton variant, and at any time once its first NO_JIT_ITEMS items met no Triton
kernel at all (a candidate with nothing left to compile, or nothing Triton, stops costing
anything). Its Triton kernels compile, load and get their launchers built, but never launch
(dry_launches). Helpers judge nothing and report nothing: the worker still runs every case
itself, so a helper can change no verdict. What a helper could still do to the worker is bounded: its allocator may take
MEMORY_SHARE / H of the GPU's memory; a call that takes longer than the campaign's per-case
timeout ends the helper; it dies with the campaign, and the campaign kills its process
group when it ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
ROUNDS_AHEAD = 40  # rounds (25 examples each) the helpers cover together, after the opening
IDLE_ITEMS = 64  # after the opening, a helper that met no new variant in this many items ends
NO_JIT_ITEMS = 16  # ... and any helper that met no Triton kernel at all in its first this many
MAX_HELPERS = 12
MEMORY_SHARE = 0.25  # of the GPU's memory, for all helpers together


def default_helpers(device: str, candidates: list[str], builtins: list[str] = ()) -> int:
    """On CUDA with a candidate, or the built-in Triton backend without one: one helper per
    core beyond the first four (the campaign, its worker, the system), at most MAX_HELPERS;
    none on the CPU, where the interpreter compiles nothing. Measured on a 16-core H100
    host, the opening of a Triton candidate on a cold cache (benchmarks/results/h100/s19/c3,
    helpers launching then): 47.8 s with none, 23.2 s with 6, 20.1 s with 12."""
    if not compiles_ahead(candidates, builtins) or not device.startswith("cuda"):
        return 0
    return max(0, min(MAX_HELPERS, (os.cpu_count() or 1) - 4))


def compiles_ahead(candidates: list[str], builtins: list[str]) -> bool:
    """Whether helpers have something to compile: a candidate's kernels, or without one
    the built-in Triton backend's (run in the campaign's own process, whose JIT then finds
    them in the same disk cache)."""
    return bool(candidates) or "triton" in builtins


BUILTIN = "triton"  # what a helper calls when the campaign has no candidate


def _fns(o) -> list:
    """The callables a helper runs every item through: the candidates, or BUILTIN."""
    from fuzz.candidates import load_candidate

    if o.candidates:
        return [load_candidate(spec) for spec in o.candidates]
    # The built-in's fast launch path calls a variant's C launcher itself, past the dry
    # launcher: off here, so that helpers compile its variants and never run one.
    for module in ("nsa_meta.triton_kernel", "nsa_meta.metadata_triton"):
        with contextlib.suppress(Exception):
            __import__(module, fromlist=["_fast"])._fast.on = False
    return [BUILTIN]


class Helpers:
    """The helper processes of one campaign unit: start() them, close() them."""

    def __init__(
        self,
        options,
        count: int,
        rounds: int = ROUNDS_AHEAD,
        idle: int | None = IDLE_ITEMS,
        items: list[dict] | None = None,
    ):
        """`items`: run these (a replay's entries, as the worker gets them) instead of the
        campaign's opening and rounds."""
        self.options, self.count, self.rounds, self.idle = options, count, rounds, idle
        self.items = items
        self.items_file: str | None = None
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "PYTHONPATH": path}
        if self.items is not None and self.count:
            import tempfile

            fd, self.items_file = tempfile.mkstemp(prefix="nsa-compile-ahead-", suffix=".json")
            with os.fdopen(fd, "w") as f:  # a file: one argument holds at most 128 KiB
                json.dump(self.items, f)
        for h in range(self.count):
            config = {
                "options": self.options.to_json(),
                "helper": h,
                "helpers": self.count,
                "rounds": self.rounds,
                "idle": self.idle,
                "items_file": self.items_file,
                "parent": os.getpid(),
                "sys_path": [p for p in sys.path if p],
            }
            try:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "fuzz.compile_ahead", json.dumps(config)],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                        env=env,
                    )
                )
            except OSError:
                break  # helpers are an optimisation: without them the campaign is the same

    def close(self) -> None:
        from fuzz.procs import kill_tree

        for p in self.procs:
            if p.poll() is None:
                kill_tree(p.pid)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.procs = []
        if self.items_file is not None:
            try:
                os.unlink(self.items_file)
            except OSError:
                pass
            self.items_file = None


# --- the helper's side ------------------------------------------------------------------------


def _end() -> None:
    """Exit now, and what the candidate left running below us with us (a daemon it started
    is ours: adopt_orphans); no teardown: a faulted candidate's CUDA context can hang it."""
    from fuzz.procs import kill_members

    try:
        kill_members(os.getpid(), keep=(os.getpid(),))
    finally:
        os._exit(0)


class _WatchedCall:
    """The watchdog's view of a helper's call (`cell`: its start, 0 between calls) as a call
    clock for `worker.forgive_compiles`: a Triton compile pauses it (ptxas took 40 s on one
    kernel variant on the H100: a helper ended there left the worker to compile it again)."""

    def __init__(self, cell: list[float]):
        self.cell = cell

    @contextlib.contextmanager
    def compiling(self):  # type: ignore[no-untyped-def]
        began, start = self.cell[0], time.monotonic()
        self.cell[0] = 0.0
        try:
            yield
        finally:
            if began:
                self.cell[0] = began + (time.monotonic() - start)


def _watchdog(limit: float) -> list[float]:
    """A thread that ends the process when one call runs past `limit` seconds; the
    returned cell holds the current call's start (0: between calls)."""
    cell = [0.0]

    def watch() -> None:
        while True:
            time.sleep(0.25)
            if cell[0] and time.monotonic() - cell[0] > limit:
                _end()

    threading.Thread(target=watch, daemon=True).start()
    return cell


def dry_launches() -> bool:
    """Compile, load and build the launcher of every Triton kernel as usual (all of it lands
    in Triton's disk cache), but never launch one: helpers that ran the candidate's kernels
    shared the GPU with the worker, whose many small synchronised calls then waited for
    time slices (H100: a v1 plug-in's bulk screen ran 25 times slower,
    benchmarks/results/h100/s19/c5). False where this Triton has no such launcher."""
    try:
        from triton.runtime.driver import driver

        real = driver.active.launcher_cls

        class DryLauncher(real):  # type: ignore[misc, valid-type]
            def __call__(self, *args, **kwargs):
                return None

        driver.active.launcher_cls = DryLauncher
        return True
    except Exception:
        return False


def count_variants() -> list[int] | None:
    """A cell counting the Triton variants this process met for the first time (compiled,
    or loaded from the disk cache), through the JIT's post-compile hook; None without it."""
    try:
        from triton import knobs

        seen = [0]
        previous = knobs.runtime.jit_post_compile_hook

        def hook(*args, **kwargs):
            seen[0] += 1
            return previous(*args, **kwargs) if previous else None

        knobs.runtime.jit_post_compile_hook = hook
        return seen
    except Exception:
        return None


def _items(campaign, cases, bad) -> list[dict]:
    """The items the campaign's worker gets for this example (harness.py, meta_harness.py:
    bad calls only with --check-errors, and in v1 only those of the three arguments)."""
    from fuzz.contract import FAULTS
    from fuzz.isolation import worker_items

    if not campaign.o.check_errors:
        bad = []
    elif campaign.o.op != "metadata":
        bad = [(c, f) for c, f in bad if f.kind in FAULTS]
    return worker_items(cases, bad, op=campaign.o.op)


def call(fn, item: dict, device: str) -> None:
    """Call `fn` on an item as the worker would (fuzz/worker.py, fuzz/meta_worker.py), and
    keep nothing. BUILTIN: the built-in Triton backend as the campaign calls it (validation
    as the case asks, which picks the launch's plan; a bad call raises before any launch)."""
    from fuzz.case import Case, Fault, faulty_args, refill_calls

    fault = Fault.from_json(item["fault"]) if item.get("fault") else None
    builtin = fn == BUILTIN
    if builtin and fault is not None:
        return
    if item.get("op") != "metadata":
        case = Case.from_json(item["case"])
        if builtin:
            from nsa_meta import expand

            ext, seq = case.tensors(device)
            expand(ext, seq, case.nsa_index_topk, backend=BUILTIN, validate=case.validate)
        elif fault:
            fn(*faulty_args(case, fault, device))
        elif case.prior is not None:  # a refill case: the prior's call, then the case's
            for args in refill_calls(case, device):
                fn(*args)
        else:
            fn(*case.tensors(device), case.nsa_index_topk)
        return
    from fuzz.meta_case import MetaCase, poison_again
    from fuzz.meta_contract import faulty_call
    from fuzz.meta_harness import _builtin
    from fuzz.meta_worker import call_candidate

    case = MetaCase.from_json(item["case"])
    if fault is not None:
        fn(**faulty_call(case, fault, device))
        return
    out = None if builtin and case.out == "none" else case.buffers(device)
    args = None
    for k, c in enumerate(case.calls):
        args = case.call_args(k, device, args)
        if case.repoison and k and out is not None:
            poison_again(out)
        if builtin:
            _builtin(BUILTIN, c, case, args, out=out)
        else:
            call_candidate(fn, case, c, args, out)


def serve(config: dict) -> None:
    from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings

    from fuzz.campaign import EXAMPLES_PER_ROUND, Options, round_seed
    from fuzz.envelope import Envelope
    from fuzz.meta_campaign import campaign_class
    from fuzz.worker import forgive_compiles

    o = Options.from_json(config["options"])
    o.corpus_dir = Path(os.devnull)  # not a folder: the book reads no corpus
    h, n, idle = config["helper"], config["helpers"], config["idle"]
    import torch

    cuda = o.device.startswith("cuda")
    if cuda:
        torch.cuda.set_per_process_memory_fraction(MEMORY_SHARE / n)
        dry_launches()
    torch.set_num_threads(1)
    variants = count_variants()
    fns = _fns(o)
    own = getattr(fns[0], "envelope", None)
    cli = Envelope.parse(o.envelope, source="--envelope") if o.envelope else None
    campaign = campaign_class(o.op)(o)
    campaign.envelope = Envelope.parse(own, source="fn.envelope") if own else cli
    started = _watchdog(o.timeout)
    forgive_compiles(_WatchedCall(started))
    quiet = [0]  # items in a row that met no new variant

    def run(items: list[dict], *, opening: bool) -> None:
        for item in items:
            if o.deadline is not None and time.monotonic() > o.deadline:
                _end()
            before = variants[0] if variants else 0
            for fn in fns:
                started[0] = time.monotonic()
                try:
                    call(fn, item, o.device)
                    if cuda:
                        torch.cuda.synchronize()
                except Exception:
                    if cuda:  # a CUDA error can leave the context unusable: stop here
                        try:
                            torch.cuda.synchronize()
                        except Exception:
                            _end()
                started[0] = 0.0
            quiet[0] = 0 if variants and variants[0] > before else quiet[0] + 1
            if idle is not None and variants is not None:
                if not opening and quiet[0] >= idle:
                    _end()  # nothing new to compile lately: stop taking the GPU's time
                if variants[0] == 0 and quiet[0] >= NO_JIT_ITEMS:
                    _end()  # no Triton kernel at all so far: nothing to compile ahead

    if config.get("items_file"):  # a replay's entries: this helper's share, then done
        with open(config["items_file"]) as f:
            run(json.load(f)[h::n], opening=True)
        return
    if o.named:
        mine = campaign._opening_cases()[o.unit :: o.units]
        run(_items(campaign, mine[h::n], []), opening=True)
    dealt = [0]  # the round's items drawn so far
    for k in range(config["rounds"]):
        # Every helper draws round k's examples; helper h runs items h, h + H, ... of them,
        # so the round the worker comes to next compiles on every helper at once.
        dealt[0] = 0

        @settings(
            database=None,
            max_examples=EXAMPLES_PER_ROUND,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=(Phase.generate,),
            verbosity=Verbosity.quiet,
            print_blob=False,
        )
        @seed(round_seed(o.seed, o.unit + k * o.units))
        @given(campaign._strategy())
        def round_(example) -> None:
            items = _items(campaign, *example)
            first, dealt[0] = dealt[0], dealt[0] + len(items)
            run([x for i, x in enumerate(items, first) if i % n == h], opening=False)

        round_()


def main(argv: list[str]) -> None:
    config = json.loads(argv[1])
    from fuzz.lifetime import adopt_orphans, die_with_parent

    die_with_parent(config["parent"])
    adopt_orphans()  # a daemon the candidate starts (a compile server) stays below us
    sys.path[:0] = [p for p in config["sys_path"] if p not in sys.path]
    try:
        serve(config)
    except BaseException:  # a helper's end is nobody's verdict
        pass
    _end()


if __name__ == "__main__":
    main(sys.argv)
