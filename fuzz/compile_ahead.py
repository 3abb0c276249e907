"""Compile ahead: throwaway helper processes run a GPU campaign's cases before its worker
does, so that a JIT-compiled candidate (Triton) finds its variants in the shared disk cache.

Why: on a GPU such a campaign is compile-bound. Each new specialisation (dtypes, strides
== 1 or % 16, constexprs) compiles once, about 0.6 s. On an H100, the opening of
`benchmarks/outside_kernels.py`'s correct kernel met 57 of them: 35.5 s of its 37 s, against
1.7 s of running (benchmarks/opening_profile.py). With 12 helpers the campaign's opening
took 20.1 s instead of 47.8 s.

Helper h of H runs the opening cases h, h + H, ..., then the campaign's own Hypothesis
rounds (same seeds, same strategy: a round that fails nothing draws the same cases) h, h + H,
... of this unit's, up to ROUNDS_AHEAD rounds in all, and exits. Helpers judge nothing and
report nothing: the worker still runs every case itself, so a helper can change no verdict.
What a helper could still do to the worker is bounded: its allocator may take
MEMORY_SHARE / H of the GPU's memory; a call that takes longer than the campaign's per-case
timeout ends the helper (a hung kernel of its own stops holding the GPU); it dies with the
campaign, and the campaign kills its process group when it ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
ROUNDS_AHEAD = 40  # rounds (25 examples each) the helpers cover together, after the opening
MAX_HELPERS = 12
MEMORY_SHARE = 0.25  # of the GPU's memory, for all helpers together


def default_helpers(device: str, candidates: list[str]) -> int:
    """On CUDA with a candidate: one helper per core beyond the first four (the campaign,
    its worker, the system), at most MAX_HELPERS; none on the CPU, where the interpreter
    compiles nothing. Measured on a 16-core H100 host, the opening of a Triton candidate on
    a cold cache (benchmarks/results/h100/s19/call3): 47.8 s with none, 23.2 s with 6,
    20.1 s with 12."""
    if not candidates or not device.startswith("cuda"):
        return 0
    return max(0, min(MAX_HELPERS, (os.cpu_count() or 1) - 4))


class Helpers:
    """The helper processes of one campaign unit: start() them, close() them."""

    def __init__(self, options, count: int, rounds: int = ROUNDS_AHEAD):
        self.options, self.count, self.rounds = options, count, rounds
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        from fuzz.lifetime import die_with_parent  # noqa: F401  (the helper imports it too)

        path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "PYTHONPATH": path}
        for h in range(self.count):
            config = {
                "options": self.options.to_json(),
                "helper": h,
                "helpers": self.count,
                "rounds": self.rounds,
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
        from fuzz.procs import kill_members

        for p in self.procs:
            if p.poll() is None:
                kill_members(p.pid)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.procs = []


# --- the helper's side ------------------------------------------------------------------------


def _watchdog(limit: float) -> list[float]:
    """A thread that ends the process when one call runs past `limit` seconds; the
    returned cell holds the current call's start (0: between calls)."""
    cell = [0.0]

    def watch() -> None:
        while True:
            time.sleep(0.25)
            if cell[0] and time.monotonic() - cell[0] > limit:
                os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
    return cell


def _items(campaign, cases, bad) -> list[dict]:
    """The items the campaign's worker gets for this example (harness.py, meta_harness.py)."""
    op = {"op": "metadata"} if campaign.o.op == "metadata" else {}
    items = [{**op, "case": c.to_json()} for c in cases]
    if campaign.o.check_errors:
        items += [{**op, "case": c.to_json(), "fault": f.to_json()} for c, f in bad]
    return items


def serve(config: dict) -> None:
    from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings

    from fuzz.campaign import EXAMPLES_PER_ROUND, Options, round_seed
    from fuzz.candidates import load_candidate
    from fuzz.envelope import Envelope
    from fuzz.meta_campaign import campaign_class
    from fuzz.worker import Runner

    o = Options.from_json(config["options"])
    o.corpus_dir = Path(os.devnull)  # not a folder: the book reads no corpus
    h, n = config["helper"], config["helpers"]
    import torch

    if o.device.startswith("cuda"):
        torch.cuda.set_per_process_memory_fraction(MEMORY_SHARE / n)
    torch.set_num_threads(1)
    fns = [load_candidate(spec) for spec in o.candidates]
    own = getattr(fns[0], "envelope", None)
    cli = Envelope.parse(o.envelope, source="--envelope") if o.envelope else None
    campaign = campaign_class(o.op)(o)
    campaign.envelope = Envelope.parse(own, source="fn.envelope") if own else cli
    runners = [Runner(fn, o.device, 2**62) for fn in fns]
    started = _watchdog(o.timeout)

    def run(items: list[dict]) -> None:
        for item in items:
            if o.deadline is not None and time.monotonic() > o.deadline:
                os._exit(0)
            for runner in runners:
                started[0] = time.monotonic()
                runner.run(item)  # answers go nowhere; a raise is caught inside
                started[0] = 0.0

    if o.named:
        opening = campaign._opening_cases()[o.unit :: o.units]
        run(_items(campaign, opening[h::n], []))
    for k in range(h, config["rounds"], n):

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
            run(_items(campaign, *example))

        round_()


def main(argv: list[str]) -> None:
    config = json.loads(argv[1])
    from fuzz.lifetime import die_with_parent

    die_with_parent(config["parent"])
    sys.path[:0] = [p for p in config["sys_path"] if p not in sys.path]
    try:
        serve(config)
    except BaseException:  # a helper's end is nobody's verdict
        pass
    os._exit(0)  # skip teardown: a CUDA context of a faulted candidate can hang it


if __name__ == "__main__":
    main(sys.argv)
