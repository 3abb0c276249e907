"""The corpus as untrusted input, and as durable output (issue 9).

Crafted bad files are each named with their reason while every good file still loads and
nothing is changed by reading; kill -9 inside a save never leaves a file taken for an entry
nor loses a saved one; one file per signature; merge; reproducers that run; escaped output.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import stat
import subprocess
import sys
import threading
import time
import unicodedata
from pathlib import Path

import pytest

from fuzz import corpus, entry, show
from fuzz.case import Case, Fault, Layout
from fuzz.compare import Mismatch

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
INT32_MAX = 2**31 - 1

CASE = Case((3, 0, 2), (10, 4, 1), 9, Layout("int64", 2, 1), Layout("int32"))


def mismatch(impl: str = "torch", kind: str = "values") -> Mismatch:
    return Mismatch(impl, kind, "seqlens_expanded", 1, 9, 8)


def save(directory: Path, case: Case = CASE, fault=None, impl: str = "torch", **kw) -> Path:
    m = mismatch(impl, kw.pop("kind", "values"))
    return corpus.save(directory, m, case, fault, device="cpu", seed=7, **kw)


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict:
    """A valid entry as a dict, written by today's code."""
    return json.loads(save(tmp_path_factory.mktemp("good")).read_text())


def with_(data: dict, path: str, value) -> dict:
    """A deep copy of `data` with the key at dotted `path` set (or removed for DELETE)."""
    data = json.loads(json.dumps(data))
    *parents, last = path.split(".")
    node = data
    for p in parents:
        node = node[p]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return data


DELETE = object()


def deep(n: int) -> str:
    return "[" * n + "]" * n


# name -> (how to make the file's text from the good entry, reason the error must give)
BAD_TEXTS = {
    "deep-nesting": (lambda g: deep(100_000), "nested deeper"),
    "deep-nesting-inside": (
        lambda g: json.dumps(g)[:-1] + ', "x": ' + deep(100_000) + "}",
        "nested deeper",
    ),
    "unclosed-nesting": (lambda g: "[" * 100_000, "unbalanced"),
    "stride-minus-1": (lambda g: with_(g, "case.extend_layout.stride", -1), ">= 0"),
    "offset-minus-1": (lambda g: with_(g, "case.seq_layout.offset", -1), ">= 0"),
    "unknown-fault-kind": (
        lambda g: with_(g, "fault", {"kind": "rm_rf", "value": None, "index": 0}),
        "unknown kind",
    ),
    "dtype-float32": (
        lambda g: with_(g, "case.extend_layout.dtype", "float32"),
        "case.extend_layout.dtype: Invalid enum value 'float32'",
    ),
    "seq-2**31": (lambda g: with_(g, "case.seq_lens", [2**31, 1, 1]), "<= 2147483647"),
    "extend-2**40": (lambda g: with_(g, "case.extend_seq_lens", [2**40, 0, 0]), "<= 2147483647"),
    "total-over-int32": (
        lambda g: with_(g, "case.extend_seq_lens", [2**30, 2**30, 0]),
        "above 2**31 - 1",
    ),
    "huge-stride": (lambda g: with_(g, "case.extend_layout.stride", INT32_MAX), "max-total"),
    "huge-offset": (lambda g: with_(g, "case.seq_layout.offset", INT32_MAX), "max-total"),
    "total-2**31-1": (
        lambda g: with_(g, "case.extend_seq_lens", [INT32_MAX, 0, 0]),
        "above --max-total",
    ),
    "extends-string-123": (lambda g: with_(g, "case.extend_seq_lens", "123"), "got `str`"),
    "extend-1.9": (lambda g: with_(g, "case.extend_seq_lens", [1.9, 0, 2]), "got `float`"),
    "extend-1.0": (lambda g: with_(g, "case.extend_seq_lens", [1.0, 0, 2]), "got `float`"),
    "extend-true": (lambda g: with_(g, "case.extend_seq_lens", [True, 0, 2]), "got `bool`"),
    "topk-true": (lambda g: with_(g, "case.nsa_index_topk", True), "got `bool`"),
    "topk-minus-1": (lambda g: with_(g, "case.nsa_index_topk", -1), ">= 0"),
    "topk-2**31": (lambda g: with_(g, "case.nsa_index_topk", 2**31), "<= 2147483647"),
    "validate-string-false": (lambda g: with_(g, "case.validate", "false"), "got `str`"),
    "validate-0": (lambda g: with_(g, "case.validate", 0), "got `int`"),
    "out-slack-negative": (lambda g: with_(g, "case.out_slack", -1), ">= 0"),
    "out-slack-huge": (lambda g: with_(g, "case.out_slack", INT32_MAX), "max-total"),
    "lengths-differ": (lambda g: with_(g, "case.seq_lens", [1, 2]), "seq_lens has 2"),
    "stride-0-unequal": (
        lambda g: with_(g, "case.extend_layout", {"dtype": "int32", "stride": 0, "offset": 0}),
        "stride 0",
    ),
    "unknown-case-key": (lambda g: with_(g, "case.shape", [3]), "unknown field `shape`"),
    "unknown-layout-key": (lambda g: with_(g, "case.seq_layout.storage", 9), "unknown field"),
    "missing-case": (lambda g: with_(g, "case", DELETE), "missing required field `case`"),
    "missing-signature": (lambda g: with_(g, "signature", DELETE), "`signature`"),
    "missing-extends": (lambda g: with_(g, "case.extend_seq_lens", DELETE), "extend_seq_lens"),
    "format-3": (lambda g: with_(g, "format", 3), "format"),
    "unknown-op": (lambda g: with_(g, "op", "reduce"), "unknown operation"),
    "fault-value-insane": (
        lambda g: with_(g, "fault", {"kind": "seq_negative", "value": 5, "index": 0}),
        "makes no sense",
    ),
    "fault-dtype-unknown": (
        lambda g: with_(g, "fault", {"kind": "extend_dtype", "value": "complex128", "index": 0}),
        "makes no sense",
    ),
    "fault-index-negative": (
        lambda g: with_(g, "fault", {"kind": "seq_not_tensor", "value": None, "index": -2}),
        ">= 0",
    ),
    "fault-extra-key": (
        lambda g: with_(g, "fault", {"kind": "seq_not_tensor", "value": None, "eval": "x"}),
        "unknown field",
    ),
    "signature-not-impl": (lambda g: with_(g, "signature", "triton:values"), "does not start"),
    "seed-without-note": (
        lambda g: with_(with_(g, "impl", "seed"), "signature", "seed:empty-batch"),
        "note",
    ),
    "nan": (
        lambda g: json.dumps(g).replace('"nsa_index_topk": 9', '"nsa_index_topk": NaN'),
        "JSON",
    ),
    "empty": (lambda g: "", "JSON"),
    "truncated": (lambda g: json.dumps(g)[:200], "JSON"),
    "not-an-object": (lambda g: "[1, 2, 3]", "Expected `object`"),
    "bad-utf8": (lambda g: b'{"signature": "\xff\xfe"}', ""),
}


def write_bad(directory: Path, name: str, g: dict) -> Path:
    make, _ = BAD_TEXTS[name]
    text = make(g)
    path = directory / f"{name}.json"
    if isinstance(text, dict):
        text = json.dumps(text)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@contextlib.contextmanager
def deadline(seconds: float):
    """Fail (instead of hanging the suite) if the block blocks, e.g. on a FIFO."""

    def expired(*_):
        raise TimeoutError(f"blocked for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("name", list(BAD_TEXTS))
def test_crafted_bad_entry_is_named_with_its_reason(tmp_path: Path, good: dict, name: str) -> None:
    path = write_bad(tmp_path, name, good)
    with deadline(20), pytest.raises(corpus.CorpusError) as caught:
        corpus.load(path)
    assert caught.value.path == path
    assert str(path) in str(caught.value)
    assert BAD_TEXTS[name][1] in caught.value.reason, caught.value.reason


def special_files(directory: Path) -> dict[str, str]:
    """Files that are no regular file or too big, with the reason each must give."""
    os.mkfifo(directory / "fifo.json")
    (directory / "zero.json").symlink_to("/dev/zero")
    (directory / "loop.json").symlink_to(directory / "loop.json")
    (directory / "dir.json").mkdir()
    with open(directory / "huge.json", "wb") as f:
        f.truncate(entry.MAX_BYTES + 1)  # sparse: costs no disk
    return {
        "fifo.json": "FIFO",
        "zero.json": "character device",
        "loop.json": "cannot read",
        "dir.json": "directory",
        "huge.json": "above the cap",
    }


def good_entries(directory: Path, g: dict) -> list[Path]:
    """Valid entries of every kind: plain, fault, out fault, out buffers, stride 0, a
    format-1 entry as main wrote it, a seed, a newer writer's extra key, a big lifted case."""
    paths = [
        save(directory),
        save(directory, fault=Fault("seq_negative", -5, 1), kind="wrong-error"),
        save(directory, fault=Fault("out_too_small"), kind="no-error", impl="triton"),
        save(directory, Case((2, 2), (5, 5), 4, Layout("int32", 0, 3)), impl="legacy"),
        save(directory, Case((1,), (1,), 0, out_slack=5, validate=False), impl="reference"),
    ]
    old = {k: v for k, v in g.items() if k not in ("op", "cause", "output_tail")}
    old.update(format=1, signature="torch:values", summary="old")
    seed = with_(with_(with_(g, "impl", "seed"), "signature", "seed:empty"), "mismatch", None)
    seed.update(note="an empty batch broke the legacy loop", candidate=None, cause="")
    seed["case"] = Case((), (), 0).to_json()
    extra = with_(g, "signature", "torch:other")
    extra["written_by"] = {"tool": "a newer fuzz"}
    for name, data in (("format1.json", old), ("seed.json", seed), ("extra.json", extra)):
        (directory / name).write_text(json.dumps(data, indent=2))
        paths.append(directory / name)
    return paths


def snapshot(directory: Path) -> dict[str, tuple]:
    out = {}
    for p in directory.iterdir():
        st = os.lstat(p)
        body = p.read_bytes() if stat.S_ISREG(st.st_mode) and st.st_size < 2**20 else b""
        out[p.name] = (st.st_mode, st.st_size, st.st_mtime_ns, body)
    return out


def test_mixed_corpus_names_every_bad_file_loads_every_good_one_changes_nothing(
    tmp_path: Path, good: dict
) -> None:
    goods = good_entries(tmp_path, good)
    bads = {write_bad(tmp_path, n, good).name: r for n, (_, r) in BAD_TEXTS.items()}
    bads.update(special_files(tmp_path))
    (tmp_path / "report.json").write_text('{"cases": 1, "failures": []}')  # not an entry
    (tmp_path / ".hidden.json.part-00000000-1-00000000").write_text("{")  # a temp: not one
    before = snapshot(tmp_path)
    with deadline(60):
        entries, errors = corpus.load_all([tmp_path])
    assert sorted(e.path.name for e in entries) == sorted(p.name for p in goods)
    named = {e.path.name: e.reason for e in errors}
    assert named.keys() == bads.keys()
    for name, reason in bads.items():
        assert reason in named[name], (name, named[name])
    assert snapshot(tmp_path) == before


def test_every_good_kind_decodes_to_what_was_saved(tmp_path: Path, good: dict) -> None:
    entries = [corpus.load(p) for p in good_entries(tmp_path, good)]
    by_name = {e.path.name: e for e in entries}
    assert by_name["seed.json"].is_seed and by_name["seed.json"].note.startswith("an empty")
    assert by_name["seed.json"].case == Case((), (), 0)
    assert by_name["format1.json"].op == "expand" and by_name["format1.json"].cause == ""
    faults = sorted(e.fault.kind for e in entries if e.fault)
    assert faults == ["out_too_small", "seq_negative"]
    assert any(e.case.extend_layout == Layout("int32", 0, 3) for e in entries)
    assert any(e.case.out_slack == 5 and e.case.validate is False for e in entries)


def test_max_total_is_a_cap_a_caller_can_lift(tmp_path: Path) -> None:
    big = Case((2**22, 1), (2**22, 1), 9)
    path = save(tmp_path, big)
    with pytest.raises(corpus.CorpusError, match="above --max-total 4194304"):
        corpus.load(path)
    assert corpus.load(path, max_total=2**23).case == big
    entries, errors = corpus.load_all([tmp_path], max_total=2**23)
    assert len(entries) == 1 and not errors
    for wrong in (0, True, 1.5, 2**31):
        with pytest.raises(ValueError, match="max_total"):
            corpus.load(path, max_total=wrong)


def test_metadata_entries_are_named_until_a_decoder_is_registered(
    tmp_path: Path, good: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = with_(with_(good, "op", "metadata"), "signature", "metadata:torch:values")
    data["case"] = {"mode": "decode", "page_size": 64}
    monkeypatch.delitem(entry.DECODERS, "metadata", raising=False)  # as before fuzz.meta_entry
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(data))
    with pytest.raises(entry.OpNotDecoded, match="--op metadata"):
        corpus.load(path)

    def decode_case(raw: bytes, *, max_total: int, where: str = "case") -> dict:
        return json.loads(raw)

    monkeypatch.setitem(entry.DECODERS, "metadata", entry.OpDecoder(decode_case))
    loaded = corpus.load(path)
    assert (loaded.op, loaded.case) == ("metadata", {"mode": "decode", "page_size": 64})


def test_fifo_does_not_block_entry_files_or_load(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.json")
    kept = save(tmp_path)
    with deadline(10):
        assert corpus.entry_files([tmp_path]) == sorted([kept, tmp_path / "x.json"])
        with pytest.raises(corpus.CorpusError, match="FIFO"):
            corpus.load(tmp_path / "x.json")


# --- durable, invisible writes -------------------------------------------------------------------


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".part-" in p.name)


KILLER = """
import os, random, signal, sys
from fuzz import corpus
from fuzz.case import Case
from fuzz.compare import Mismatch
where, when = sys.argv[1], sys.argv[2]
m = Mismatch("torch", "values", "seqlens_expanded", 0, 1, 2)
def die(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)
if when == "before-write":
    corpus._write_all = die
else:
    corpus.os.replace = die
corpus.save(where, m, Case((1,), (1,), 1), None, device="cpu", seed=1)
"""


@pytest.mark.slow
@pytest.mark.parametrize("when", ["before-write", "before-rename"])
def test_kill_inside_the_save_window_leaves_no_entry_and_loses_none(
    tmp_path: Path, when: str
) -> None:
    kept = save(tmp_path, Case((5, 5), (9, 9), 9), impl="torch")  # same signature, larger
    before = kept.read_bytes()
    r = subprocess.run([sys.executable, "-c", KILLER, str(tmp_path), when], env=ENV, timeout=120)
    assert r.returncode == -signal.SIGKILL
    (left,) = temp_files(tmp_path)  # the dead writer's temp file is there...
    assert corpus.entry_files([tmp_path]) == [kept]  # ...and no command takes it for an entry
    entries, errors = corpus.load_all([tmp_path])
    assert [e.path for e in entries] == [kept] and not errors
    assert kept.read_bytes() == before
    assert [p.name for p in corpus.sweep_stale(tmp_path)] == [left]  # its writer is gone
    assert temp_files(tmp_path) == []


SAVER = """
import os, sys
from fuzz import corpus
from fuzz.case import Case
from fuzz.compare import Mismatch
where, i = sys.argv[1], int(sys.argv[2])
print("ready", flush=True)
while True:  # every save writes: each case is smaller than the last of its signature
    i += 1
    m = Mismatch(f"impl{i % 13}", "values", "seqlens_expanded", 0, 1, 2)
    n = 4_000_000 - i
    corpus.save(where, m, Case((n,), (n,), 1), None, device="cpu", seed=i)
    os.write(1, f"{m.signature} {n} saved\\n".encode())  # one write: never half a line
"""


@pytest.mark.slow
def test_kill_9_at_random_moments_of_a_save_loop(tmp_path: Path) -> None:
    rng = random.Random(9)
    saved: dict[str, int] = {}
    # Four kills at random moments, then (on a machine loaded enough that those came before
    # all 13 signatures were saved: the slow tier's other worker runs campaigns) one more
    # once the saver has said every signature once.
    for start in range(0, 500_000, 100_000):
        last = start == 400_000
        if last and len(saved) == 13:
            break
        proc = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(tmp_path), str(start)],
            env=ENV,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        said: list[str] = []
        if last:
            while len({line.split()[0] for line in said}) < 13:
                line = proc.stdout.readline()
                assert line, "the saver ended"
                said.append(line)
        time.sleep(rng.uniform(0.05, 0.4))
        proc.kill()
        out, _ = proc.communicate(timeout=60)
        for line in [*said, *out.splitlines()]:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "saved":  # a line cut by the kill is no promise
                sig, n, _ = parts
                saved[sig] = min(int(n), saved.get(sig, 10**9))
        entries, errors = corpus.load_all([tmp_path])
        assert not errors, errors
        found = {e.signature: e.case.total for e in entries}
        assert len(found) == len(entries)  # one file per signature
        for sig, n in saved.items():  # nothing saved is lost; nothing larger replaced it
            assert found.get(sig, 10**9) <= n, (sig, found.get(sig), n)
        corpus.sweep_stale(tmp_path)
        assert temp_files(tmp_path) == []
    assert len(saved) == 13, "the saver never got to save every signature"


def test_sweep_removes_only_stale_temp_files(tmp_path: Path) -> None:
    entry_path = save(tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = corpus._HOST
    other = "0" * 8 if host != "0" * 8 else "1" * 8
    names = {
        f".a.json.part-{host}-{dead.pid}-0123abcd": True,  # its process is gone
        f".b.json.part-{host}-{os.getpid()}-0123abcd": False,  # a live writer, fresh
        f".c.json.part-{host}-{os.getpid()}-0123abce": True,  # live pid, but 11 minutes old
        f".d.json.part-{other}-{dead.pid}-0123abcd": False,  # another host's, fresh
        f".e.json.part-{other}-1-0123abcd": True,  # another host's, old
        ".tmp-abcd_123.json": True,  # format 1's mkstemp name, old
        ".tmp-abcd_124.json": False,  # format 1's, fresh: its writer may be running
    }
    old = time.time() - 660
    for name in names:
        (tmp_path / name).write_text("{")
        if name[1] in "ce" or name == ".tmp-abcd_123.json":
            os.utime(tmp_path / name, (old, old))
    os.utime(entry_path, (old, old))
    assert corpus.entry_files([tmp_path]) == [entry_path]
    removed = corpus.sweep_stale(tmp_path)
    assert sorted(p.name for p in removed) == sorted(n for n, s in names.items() if s)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([entry_path.name] + [n for n, s in names.items() if not s])


def test_reading_never_sweeps(tmp_path: Path) -> None:
    save(tmp_path)
    stale = tmp_path / f".x.json.part-{corpus._HOST}-999999999-0123abcd"
    stale.write_text("")
    corpus.load_all([tmp_path])
    corpus.entry_files([tmp_path])
    assert stale.exists()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_entries_are_created_under_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        path = save(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_one_file_per_signature_keeps_the_smaller_case(tmp_path: Path) -> None:
    large = Case((4, 4, 4), (9, 9, 9), 9)
    small = Case((1,), (1,), 1)
    first = save(tmp_path, large, original_case=Case((9,) * 5, (9,) * 5, 9))
    assert save(tmp_path, small) == first
    assert corpus.load(first).case == small
    assert save(tmp_path, large) == first  # larger: the smaller stays
    assert corpus.load(first).case == small
    assert os.listdir(tmp_path) == [first.name]


def test_concurrent_writers_of_one_signature_leave_the_smallest(tmp_path: Path) -> None:
    sizes = list(range(1, 17))
    random.Random(3).shuffle(sizes)
    threads = [
        threading.Thread(target=save, args=(tmp_path, Case((n,) * n, (n,) * n, n))) for n in sizes
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (only,) = os.listdir(tmp_path)
    assert corpus.load(tmp_path / only).case == Case((1,), (1,), 1)


def test_save_records_cause_output_tail_original_case_and_note(tmp_path: Path) -> None:
    original = Case((5, 5, 5), (9, 9, 9), 9)
    m = Mismatch("plug", "crash", cause="SIGSEGV", output_tail="x" * 10_000)
    path = corpus.save(
        tmp_path, m, CASE, None, device="cpu", seed=1, spec="k.py:f", original_case=original
    )
    e = corpus.load(path)
    assert (e.cause, len(e.output_tail), e.original_case) == ("SIGSEGV", 4096, original)
    assert e.candidate == "k.py:f" and e.data["replay"].endswith("--candidate k.py:f")
    plain = corpus.load(save(tmp_path, original_case=CASE, note="what it broke"))
    assert plain.original_case is None  # the same case is not stored twice
    assert plain.note == "what it broke" and plain.cause == mismatch().describe()


def test_unwritable_corpus_is_a_write_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    for where in (tmp_path / "file", tmp_path / "file" / "sub", "/proc/nope", "/sys"):
        with pytest.raises(corpus.CorpusWriteError, match="cannot write") as caught:
            corpus.check_writable(where)
        assert caught.value.reason
        with pytest.raises(corpus.CorpusWriteError):
            save(Path(where))
    made = corpus.check_writable(tmp_path / "new" / "nested")
    assert made.is_dir() and os.listdir(made) == []


def test_directory_without_permission_is_a_write_error() -> None:
    import shutil
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="nsa-fuzz-perm-"))
    top.chmod(0o755)
    locked = top / "locked"
    locked.mkdir(mode=0o555)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # as another user when root (root ignores modes)
        code = 1
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            corpus.check_writable(locked)
        except corpus.CorpusWriteError as exc:
            os.write(w, exc.reason.encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    reason = os.read(r, 1000).decode()
    os.close(r)
    shutil.rmtree(top)
    assert os.waitstatus_to_exitcode(status) == 0 and "Permission denied" in reason
    assert "cannot write in the directory" in reason


def test_report_path_is_checked_early(tmp_path: Path) -> None:
    for bad in ("/proc/nope/r.json", tmp_path, "/sys/r.json"):
        with pytest.raises(corpus.CorpusWriteError, match="cannot write"):
            corpus.check_report_path(bad)
    ok = corpus.check_report_path(tmp_path / "a" / "b" / "r.json")
    assert ok.parent.is_dir() and not ok.exists() and os.listdir(ok.parent) == []
    corpus.write_atomic(ok, "{}\n")
    assert corpus.check_report_path(ok) == ok and ok.read_text() == "{}\n"


# --- merge ---------------------------------------------------------------------------------------


def test_merge_keeps_one_smallest_entry_per_signature_and_leaves_sources(
    tmp_path: Path, good: dict
) -> None:
    a, b, into = tmp_path / "a", tmp_path / "b", tmp_path / "into"
    small, mid, big = Case((1,), (1,), 1), Case((2, 2), (3, 3), 1), Case((3, 3, 3), (4, 4, 4), 1)
    save(a, big, impl="torch")
    save(a, small, impl="triton")
    save(b, small, impl="torch")
    save(b, mid, impl="triton")
    save(b, mid, impl="legacy")
    write_bad(b, "stride-minus-1", good)
    into.mkdir()
    old = into / "legacy-old-name.json"  # a format-1 name for the legacy signature, larger
    old.write_text(
        json.dumps(
            with_(with_(good, "impl", "legacy"), "signature", "legacy:values:seqlens_expanded")
            | {"case": big.to_json()}
        )
    )
    keep = save(into, small, impl="reference")
    sources = {p: p.read_bytes() for d in (a, b) for p in d.iterdir()}

    result = corpus.merge([a, b], into)

    assert {p: p.read_bytes() for d in (a, b) for p in d.iterdir()} == sources
    entries, errors = corpus.load_all([into])
    assert not errors
    got = {e.signature.split(":")[0]: e.case for e in entries}
    assert got == {"torch": small, "triton": small, "legacy": mid, "reference": small}
    assert len(entries) == 4 and not old.exists()
    assert [e.path.name for e in result.errors] == ["stride-minus-1.json"]
    assert sorted(p.name for p in result.added) == sorted(
        corpus.entry_name(f"{i}:values:seqlens_expanded") for i in ("torch", "triton")
    )
    assert [p.name for p in result.replaced] == [
        corpus.entry_name("legacy:values:seqlens_expanded")
    ]
    assert result.kept == [] and result.duplicates == 2
    assert keep.exists()
    for e in entries:
        assert e.data["replay"] == f"python -m fuzz replay {e.path}"

    again = corpus.merge([a, b], into)
    assert (again.added, again.replaced, len(again.kept)) == ([], [], 3)


def test_merge_into_an_unwritable_place_is_a_write_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(corpus.CorpusWriteError):
        corpus.merge([tmp_path], tmp_path / "file")


# --- show: escaped strings, reproducers that run ------------------------------------------------

NASTY = "\x1b]0;owned\x07\x1b[2K\rPASS everything\b\x9b31m\u202egnp.exe\u2028\ud800"


def test_printable_escapes_every_control_character() -> None:
    out = show.printable(NASTY)
    assert "\x1b" not in out and "\r" not in out and "\\x1b" in out and "\\r" in out
    assert all(c.isprintable() for c in out)
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs") for c in out)
    assert (
        show.printable("a\nb") == "a\\nb" and show.printable("a\nb", keep_newlines=True) == "a\nb"
    )
    assert show.printable("plain: bs=3 µ ü") == "plain: bs=3 µ ü"


def test_list_line_and_json_of_a_crafted_entry_are_escaped(tmp_path: Path, good: dict) -> None:
    nasty = NASTY.replace("\ud800", "")  # a lone surrogate is no valid JSON text: named
    data = with_(good, "signature", "torch:" + nasty)
    data.update(cause=nasty, date=nasty)
    path = tmp_path / ("name\x1b[31m.json")
    path.write_text(json.dumps(data))
    e = corpus.load(path)
    for text in (show.describe_entry(e), show.entry_json(e), show.reproducer(e)):
        assert all(c.isprintable() or c == "\n" for c in text), repr(text)
        assert "\rPASS" not in text
    assert "bs=3 total=5" in show.describe_entry(e)
    assert json.loads(show.entry_json(e))["cause"] == nasty


CHECK = """
import json, sys
import nsa_meta
results = []
for code, kind in json.load(sys.stdin):
    ns = {}
    exec(compile(code, "<reproducer>", "exec"), ns)
    if kind == "valid":
        got = nsa_meta.expand(*ns["args"], backend="torch")
        results.append([t.tolist() for t in got] == [list(x) for x in ns["expected"]])
    else:
        kw = {"out": ns["out"]} if kind == "out" else {}
        try:
            nsa_meta.expand(*ns["args"], backend="torch", **kw)
            results.append("no error")
        except ns["error"] as exc:
            results.append(any(w in str(exc) for w in ns["words"]))
print(json.dumps(results))
"""


def test_reproducers_run_as_printed(tmp_path: Path, good: dict) -> None:
    seed = with_(with_(with_(good, "impl", "seed"), "signature", "seed:x"), "mismatch", None)
    seed.update(note="broke it\nprint('INJECTED')", cause="")
    (tmp_path / "seed.json").write_text(json.dumps(seed))
    cases = [
        (save(tmp_path / "1", CASE), "valid"),
        (save(tmp_path / "2", Case((2, 2), (5, 5), 4, Layout("int64", 0, 1))), "valid"),
        (save(tmp_path / "3", Case((1, 2), (3, 4), 2, out_slack=3)), "valid"),
        (save(tmp_path / "4", CASE, Fault("extend_dtype", "float32", 0)), "fault"),
        (save(tmp_path / "5", CASE, Fault("total_too_large", "split", 0)), "fault"),
        (save(tmp_path / "6", CASE, Fault("seq_too_large", 2**33, 2)), "fault"),
        (save(tmp_path / "7", CASE, Fault("out_too_small"), impl="triton"), "out"),
        (save(tmp_path / "8", CASE, Fault("out_dtype"), impl="plug"), "out"),
        (tmp_path / "seed.json", "valid"),
    ]
    codes = []
    for path, kind in cases:
        code = show.reproducer(corpus.load(path))
        assert "null" not in code and "true" not in code.replace("True", "")
        codes.append([code, kind])
    r = subprocess.run(
        [sys.executable, "-c", CHECK],
        input=json.dumps(codes),
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [True] * len(cases)
    assert "INJECTED" not in r.stdout + r.stderr
    shown = show.show(corpus.load(cases[0][0]))
    assert (
        json.loads(shown.split("\n# reproduce")[0])["signature"] == "torch:values:seqlens_expanded"
    )
