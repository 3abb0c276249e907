"""Launching a compiled Triton variant without the JIT's per-call work.

The JIT binds and specialises every argument on every call (most of an eager call's cost
at these sizes). Once a variant is compiled, the kernels here call its launcher the way
the JIT itself does, keyed by what selects the variant. A profiler's launch hook sends
calls back through the JIT, so that it still sees every launch.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import triton

# Triton versions whose compiled launcher (`CompiledKernel.run.launch`, C) takes
# (grid x3, stream, function, cooperative, pdl, global scratch, profile scratch, metadata,
# launch metadata, enter hook, exit hook, *params): read in their sources.
RAW_LAUNCH_VERSIONS = ("3.5.", "3.6.")


def hook_check() -> Callable[[], bool]:
    """A cheap `installed()`: whether a launch hook (a profiler's) is installed now. Triton
    3.6 keeps hooks as always-present chains (installed = a chain is not empty); earlier
    versions as attributes that are None until set."""
    try:
        from triton import knobs

        runtime = knobs.runtime
        enter, leave = runtime.launch_enter_hook, runtime.launch_exit_hook
    except (ImportError, AttributeError):
        return lambda: False
    if hasattr(enter, "calls") and hasattr(leave, "calls"):
        return lambda: bool(runtime.launch_enter_hook.calls or runtime.launch_exit_hook.calls)
    return lambda: runtime.launch_enter_hook is not None or runtime.launch_exit_hook is not None


def raw_caller(compiled, stream_of, index, constexprs: dict):  # type: ignore[no-untyped-def]
    """`call(grid0, *params)` through the C launcher itself, past the Python wrapper that
    allocates scratch memory: None unless the Triton version's layout is known and the
    kernel needs no scratch. `stream_of(index)` gives the stream of each launch."""
    run = compiled.run
    raw = getattr(run, "launch", None)
    if (
        raw is None
        or not triton.__version__.startswith(RAW_LAUNCH_VERSIONS)
        or getattr(run, "global_scratch_size", None) != 0
        or getattr(run, "profile_scratch_size", None) != 0
    ):
        return None
    function, metadata = compiled.function, compiled.packed_metadata
    coop, pdl, tail = run.launch_cooperative_grid, run.launch_pdl, tuple(constexprs.values())

    def call(grid0, *params):  # type: ignore[no-untyped-def]
        # The launcher takes every parameter in order, constexprs included.
        raw(grid0, 1, 1, stream_of(index), function, coop, pdl, None, None, metadata, None,
            None, None, *params, *tail)  # fmt: skip

    call.path = "launcher"  # type: ignore[attr-defined]
    return call


def wrapped_caller(compiled, stream_of, index, constexprs: dict):  # type: ignore[no-untyped-def]
    """`call(grid0, *params)` through `CompiledKernel.run`, the launcher's Python wrapper,
    with the arguments the JIT gives it (no launch metadata, no hooks)."""
    run, function, metadata = compiled.run, compiled.function, compiled.packed_metadata
    tail = tuple(constexprs.values())

    def call(grid0, *params):  # type: ignore[no-untyped-def]
        run(grid0, 1, 1, stream_of(index), function, metadata, None, None, None, *params,
            *tail)  # fmt: skip

    call.path = "wrapper"  # type: ignore[attr-defined]
    return call


class FastLaunches:
    """Eager launches of compiled variants, keyed by the caller's specialisation key.

    `launch(key, grid0, args)` launches and returns True when the key's variant is known
    (and no hook is installed); else the caller launches through the JIT and hands the
    result to `remember`. Any surprise from this Triton turns the whole path off."""

    def __init__(self, enabled: bool, limit: int = 256, stream_of=None) -> None:  # type: ignore[no-untyped-def]
        self.on = enabled
        self._calls: dict[Hashable, Callable] = {}
        self._limit = limit
        self._hooks_installed = hook_check() if enabled else (lambda: True)
        self._stream_of = stream_of  # the driver's get_current_stream unless given

    def launch(self, key: Hashable, grid0: int, args: tuple) -> bool:
        if not self.on:
            return False
        call = self._calls.get(key)
        if call is None or self._hooks_installed():
            return False
        try:
            call(grid0, *args)
        except Exception:
            self.on = False
            return False
        return True

    def remember(self, key: Hashable, compiled, constexprs: dict, device_index: int) -> None:  # type: ignore[no-untyped-def]
        if not self.on or not hasattr(compiled, "run"):
            return
        try:
            if self._stream_of is None:
                from triton.runtime import driver

                self._stream_of = driver.active.get_current_stream
            compiled._init_handles()
            call = wrapped_caller(compiled, self._stream_of, device_index, constexprs)
        except Exception:
            self.on = False
            return
        if len(self._calls) >= self._limit:
            self._calls.clear()
        self._calls[key] = call

    def __len__(self) -> int:
        return len(self._calls)
