"""nsa_meta.launcher: how a compiled variant is called without the JIT, and when not."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from nsa_meta import launcher


def test_the_raw_launcher_gets_its_arguments_in_the_order_read_in_triton_sources(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The C launcher of Triton 3.5 and 3.6 takes (grid x3, stream, function, cooperative,
    pdl, global scratch, profile scratch, metadata, launch metadata, enter hook, exit hook,
    *params, *constexprs); any other version, or a kernel that needs scratch memory, gets
    no raw caller (the Python wrapper then serves)."""
    seen: list[tuple] = []
    run = SimpleNamespace(
        launch=lambda *a: seen.append(a),
        global_scratch_size=0,
        profile_scratch_size=0,
        launch_cooperative_grid=False,
        launch_pdl=True,
    )
    compiled = SimpleNamespace(run=run, function=123, packed_metadata=(4, 1, 0))
    blocks = {"BLOCK_REQ": 256, "SUM_BLOCK": 4096}
    monkeypatch.setattr(launcher.triton, "__version__", "3.6.0")
    call = launcher.raw_caller(compiled, lambda index: 1000 + index, 2, blocks)
    call(5, 11, 22, 33)
    meta = (4, 1, 0)
    assert seen == [(5, 1, 1, 1002, 123, False, True, None, None, meta, None, None, None,
                     11, 22, 33, 256, 4096)]  # fmt: skip
    assert call.path == "launcher"
    for version in ("3.4.0", "3.7.0", "4.0.0"):
        monkeypatch.setattr(launcher.triton, "__version__", version)
        assert launcher.raw_caller(compiled, lambda index: 0, 0, blocks) is None, version
    monkeypatch.setattr(launcher.triton, "__version__", "3.5.1")
    run.global_scratch_size = 16
    assert launcher.raw_caller(compiled, lambda index: 0, 0, blocks) is None


def test_hook_check_reads_triton_3_6_chains_and_older_attributes(monkeypatch) -> None:
    """Triton 3.6 keeps hooks as chains that are never None (installed = not empty);
    older versions keep None until a hook is set."""
    from triton import knobs

    chain = SimpleNamespace(calls=[])
    runtime = SimpleNamespace(launch_enter_hook=chain, launch_exit_hook=SimpleNamespace(calls=[]))
    monkeypatch.setattr(knobs, "runtime", runtime)
    installed = launcher.hook_check()
    assert installed() is False
    chain.calls.append(print)
    assert installed() is True
    runtime = SimpleNamespace(launch_enter_hook=None, launch_exit_hook=None)
    monkeypatch.setattr(knobs, "runtime", runtime)
    installed = launcher.hook_check()
    assert installed() is False
    runtime.launch_exit_hook = print
    assert installed() is True
