"""`--workers N`: N campaign processes under a small supervisor over `multiprocessing`.

Why not `concurrent.futures.ProcessPoolExecutor`: when one worker dies it marks the pool
broken and the siblings' results are lost. Here each worker streams its counts as it
goes, so a worker that dies, or is killed on Ctrl-C, still has its cases in the report,
and its death is an error of the suite (exit 3), never a silent exit 0.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_module
import signal
import time
import traceback
from dataclasses import replace

from fuzz.report import Report

PROGRESS_EVERY_S = 0.5
STOP_GRACE_S = 30.0  # after SIGTERM, how long a worker may take to save and report


def _campaign_process(options: dict, unit: int, q, parent_pid: int, gpu: int | None) -> None:
    """One worker: ignores Ctrl-C (the supervisor coordinates), SIGTERM ends it cleanly.
    `options` comes as plain data so that nothing heavy is imported before the signal
    handlers stand; a SIGTERM during start-up is kept until the campaign can take it.
    With `gpu`, it (and the candidates it starts) sees that one GPU only, as cuda:0."""
    stop = {"asked": False, "armed": False}

    def on_term(signum, frame):
        if stop["asked"]:
            return  # once: the report must go out
        stop["asked"] = True
        if stop["armed"]:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)  # read at CUDA's first use, not import
    from fuzz.lifetime import die_with_parent

    die_with_parent(parent_pid)
    from fuzz.campaign import Options
    from fuzz.candidates import CandidateError

    last = [0.0]

    def progress(c) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            q.put(("progress", unit, c.counts()))

    from fuzz.meta_campaign import campaign_class

    opts = Options.from_json(options)
    campaign = campaign_class(opts.op)(opts, on_progress=progress)
    campaign.should_stop = lambda: stop["asked"]
    try:
        stop["armed"] = True
        if stop["asked"]:
            raise KeyboardInterrupt
        campaign.run()
    except CandidateError as exc:
        q.put(("usage", unit, str(exc)))
        return
    except KeyboardInterrupt:
        campaign.interrupted = True
    except BaseException as exc:  # our own bug: the report says so, the run exits 3
        campaign.errors.append(
            f"worker {unit}: {exc!r}\n" + "".join(traceback.format_exc(limit=8))[-2000:]
        )
    try:
        q.put(("report", unit, campaign.report().to_json()))
    except KeyboardInterrupt:
        q.put(("report", unit, campaign.report().to_json()))


class Pool:
    def __init__(self, options, workers: int, on_progress, gpus: list[int] | None = None):
        self.options, self.n, self.on_progress = options, workers, on_progress
        self.gpus = gpus
        self.ctx = mp.get_context("spawn")
        self.q = self.ctx.Queue()
        self.procs: dict[int, mp.Process] = {}
        self.counts: dict[int, dict] = {}
        self.reports: dict[int, Report] = {}
        self.errors: list[str] = []
        self.usage: str | None = None
        self.stopping = False

    def start(self) -> None:
        o = self.options
        for w in range(self.n):
            share = None
            if o.max_cases is not None:
                share = o.max_cases // self.n + (w < o.max_cases % self.n)
            unit = o.unit + w
            gpu = self.gpus[w % len(self.gpus)] if self.gpus else None
            # The compile-ahead helpers are shared out: each unit runs its own cases.
            ahead = -(-o.compile_ahead // self.n)
            opts = replace(o, unit=unit, max_cases=share, compile_ahead=ahead)
            if gpu is not None:
                opts = replace(opts, device="cuda:0")
            proc = self.ctx.Process(
                target=_campaign_process,
                args=(opts.to_json(), unit, self.q, os.getpid(), gpu),
                daemon=False,
            )
            proc.start()
            self.procs[unit] = proc

    def _drain(self, timeout: float) -> None:
        try:
            msg = self.q.get(timeout=timeout)
        except queue_module.Empty:
            return
        kind, unit, body = msg
        if kind == "progress":
            self.counts[unit] = body
            self.on_progress(
                sum(c["cases"] for c in self.counts.values()),
                sum(c["failures"] for c in self.counts.values()),
            )
        elif kind == "report":
            self.reports[unit] = Report.from_json(body)
        elif kind == "usage":
            self.usage = body
            self.reports[unit] = Report()

    def _pending(self) -> list[int]:
        return [u for u in self.procs if u not in self.reports]

    def _dead_without_report(self) -> list[int]:
        return [u for u in self._pending() if not self.procs[u].is_alive()]

    def wait(self, hard_deadline: float | None) -> None:
        """Collect every worker's report; note each that died without one."""
        while self._pending():
            self._drain(0.2)
            if self.usage is not None:
                self.stop()
                return
            for u in self._dead_without_report():
                self._drain(0.5)  # its last message may still be in the pipe
                if u not in self.reports:
                    self._lost(u, f"died ({_exit(self.procs[u].exitcode)})")
            if hard_deadline is not None and time.monotonic() > hard_deadline:
                self.stop()
                return

    def stop(self) -> None:
        """SIGTERM every running worker once, wait for their reports, then kill the rest."""
        if self.stopping:
            return
        self.stopping = True
        for u in self._pending():
            if self.procs[u].is_alive():
                self.procs[u].terminate()
        end = time.monotonic() + STOP_GRACE_S
        while self._pending() and time.monotonic() < end:
            self._drain(0.2)
            for u in self._dead_without_report():
                self._drain(0.5)
                if u not in self.reports:
                    self._lost(u, f"died while stopping ({_exit(self.procs[u].exitcode)})")
        for u in self._pending():
            self.procs[u].kill()
            self._lost(u, "did not report within the stop grace and was killed")

    def _lost(self, unit: int, why: str) -> None:
        """Keep the counts a worker last sent; its death is the suite's error."""
        c = self.counts.get(unit, {})
        r = Report(
            cases=c.get("cases", 0),
            opening_cases=c.get("opening_cases", 0),
            hypothesis_cases=c.get("hypothesis_cases", 0),
            bulk_cases=c.get("bulk_cases", 0),
            plugin_bulk_cases=c.get("plugin_bulk_cases", 0),
            unit=f"{unit}/{self.options.units}",
            interrupted=True,
        )
        r.errors.append(f"worker {unit} {why}; its last counts are kept")
        self.reports[unit] = r

    def close(self) -> None:
        for p in self.procs.values():
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)

    def report(self) -> Report:
        merged = Report.merge([self.reports[u] for u in sorted(self.reports)])
        return merged


def _exit(code: int | None) -> str:
    from fuzz.isolation import exit_description

    return exit_description(code)
