"""A pytest plugin (entry point `pytest11`): `pytest --nsa-candidate path/file.py:fn` puts
the edge families, the property tests and a corpus replay into a project's own CI run.

Inert without `--nsa-candidate`. Needs no test file of the user's: the items are made
here, one per family, property and corpus file, with ids that name them. `--nsa-op
metadata` judges contract-v2 kernels (fuzz/meta_*.py) the same way. The kernel runs
in an isolated worker (a crash or a hang fails one item, not the session); under
`pytest -n auto` every xdist worker makes the same items and starts its own worker.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_workers: dict[str, object] = {}  # spec -> started IsolatedCandidate, one per process


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("nsa", "nsa-meta-fuzz: judge your own kernel against the contract")
    g.addoption(
        "--nsa-candidate",
        action="append",
        default=[],
        metavar="FILE.py:FN",
        help="your kernel, path/file.py:function or package.module:function (repeatable)",
    )
    g.addoption("--nsa-op", choices=("expand", "metadata"), default="expand")
    g.addoption("--nsa-check-errors", action="store_true", help="the error contract too")
    g.addoption(
        "--nsa-corpus",
        default=None,
        metavar="DIR",
        help="corpus entries to replay (default: the regression seeds shipped in the package)",
    )
    g.addoption("--nsa-envelope", default=None, metavar="JSON_OR_@FILE")
    g.addoption("--nsa-device", choices=("cpu", "cuda"), default=None)
    g.addoption("--nsa-timeout", type=float, default=30.0, metavar="S")


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("nsa_candidate", default=[]))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "nsa: an item made by nsa-meta-fuzz (--nsa-candidate)")
    if not _enabled(config):
        return
    import torch

    device = config.getoption("nsa_device") or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        os.environ.setdefault("TRITON_INTERPRET", "1")
    config._nsa_device = device  # type: ignore[attr-defined]
    from hypothesis import settings

    from fuzz.candidates import CandidateError, parse_spec
    from fuzz.envelope import Envelope, EnvelopeError
    from fuzz.profiles import chosen_profile, register_profiles

    register_profiles()
    if not config.getoption("hypothesis_profile", default=None):
        try:
            settings.load_profile(chosen_profile())
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
    for spec in config.getoption("nsa_candidate"):
        try:
            parse_spec(spec)
        except CandidateError as exc:
            raise pytest.UsageError(str(exc)) from None
    text = config.getoption("nsa_envelope")
    try:
        config._nsa_envelope = Envelope.from_cli(text) if text else None  # type: ignore[attr-defined]
    except EnvelopeError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not _enabled(config):
        return
    from fuzz import corpus
    from fuzz.candidates import candidate_name
    from fuzz.seeds import seeds_dir

    corpus_dir = Path(config.getoption("nsa_corpus") or seeds_dir())
    files = corpus.entry_files([corpus_dir]) if corpus_dir.is_dir() else []
    meta = config.getoption("nsa_op") == "metadata"
    if not config.getoption("nsa_corpus"):  # the shipped seeds: only those of this op
        files = [f for f in files if _entry_op(f) in (None, config.getoption("nsa_op"))]
    for spec in config.getoption("nsa_candidate"):
        name = candidate_name(spec)
        for family in _families(meta):
            items.append(
                FamilyItem.from_parent(session, name=f"nsa[{name}][family: {family}]", spec=spec)
            )
        if meta and config.getoption("nsa_check_errors"):
            from fuzz.meta_contract import named_bad_cases

            for family in named_bad_cases():  # "error: <kind>"
                items.append(
                    FamilyItem.from_parent(session, name=f"nsa[{name}][{family}]", spec=spec)
                )
        valid = "valid calls" if meta else "valid batches"
        items.append(
            PropertyItem.from_parent(session, name=f"nsa[{name}][property: {valid}]", spec=spec)
        )
        if config.getoption("nsa_check_errors"):
            items.append(
                PropertyItem.from_parent(
                    session, name=f"nsa[{name}][property: error contract]", spec=spec, bad=True
                )
            )
        for path in files:
            items.append(
                CorpusItem.from_parent(
                    session, name=f"nsa[{name}][corpus: {path.name}]", spec=spec, path=path
                )
            )


def _entry_op(path: Path) -> str | None:
    """A shipped seed's op; None when it cannot be read, so that its item is collected and
    fails, named, rather than vanish."""
    import fuzz.meta_entry  # noqa: F401  (the decoder of "metadata" entries)
    from fuzz import corpus

    try:
        return corpus.load(path).op
    except Exception:  # the item's own load names the reason
        return None


def _families(meta: bool) -> list[str]:
    if meta:
        from fuzz.meta_strategies import named_meta_cases

        return list(named_meta_cases())
    from fuzz.contract import NAMED_CASES

    return list(NAMED_CASES)


def pytest_sessionfinish(session: pytest.Session) -> None:
    for w in _workers.values():
        w.close()  # type: ignore[attr-defined]
    _workers.clear()


class NsaFailure(Exception):
    """One verdict of the fuzzer, shown as the item's failure text."""


class _NsaItem(pytest.Item):
    def __init__(self, *, spec: str, **kw):
        super().__init__(**kw)
        self.spec = spec
        self.add_marker(pytest.mark.nsa)

    # --- the candidate's worker, shared by this process's items ---------------------------

    def worker(self):
        from fuzz.candidates import CandidateError, candidate_name, check_callable_as
        from fuzz.isolation import IsolatedCandidate

        w = _workers.get(self.spec)
        if w is None:
            timeout = self.config.getoption("nsa_timeout")
            w = IsolatedCandidate(self.spec, self.config._nsa_device, timeout, 8.0)
            try:
                w.start()
                check_callable_as(self.spec, w.callable_as, self.config.getoption("nsa_op"))
            except CandidateError as exc:
                w.close()
                raise pytest.UsageError(str(exc)) from None
            _workers[self.spec] = w
        return candidate_name(self.spec), w

    def envelope(self):
        from fuzz.envelope import Envelope

        _, w = self.worker()
        own = getattr(w, "envelope", None)
        if own:
            return Envelope.parse(own, source=f"{self.spec}.envelope")
        return self.config._nsa_envelope

    @property
    def meta(self) -> bool:
        return self.config.getoption("nsa_op") == "metadata"

    def restrict(self, case):
        """`case` inside the candidate's envelope, or None (the item is then skipped)."""
        env = self.envelope()
        if env is None:
            return case
        if self.meta:
            from fuzz.meta_envelope import restrict

            return restrict(env, case)
        return env.restrict(case)

    def judge(self, case, fault=None, before=()) -> None:
        """`before`: worker items the candidate runs first, in a fresh worker."""
        from fuzz.harness import Tally, run_one

        device = self.config._nsa_device
        if self.meta:  # contract v2: the CLI's own entry (fuzz/meta_harness.py)
            from fuzz.meta_harness import run_meta

            bad = [(case, fault)] if fault is not None else []
            findings = run_meta(
                [] if bad else [case],
                ["reference"],
                [self.worker()],
                device,
                Tally(),
                bad=bad,
                before=before,
            )
        else:
            w = [self.worker()]
            findings = run_one(case, fault, ["reference"], w, device, Tally(), before=before)
        if findings:
            f = findings[0]
            cause = getattr(f.mismatch, "cause", "") or f.mismatch.describe()
            op = " --op metadata" if self.meta else ""
            raise NsaFailure(
                f"{self.name}\n  {f.mismatch.describe()}\n  cause: {cause}\n"
                f"  case: {f.case.describe()}"
                + (f"\n  fault: {f.fault.to_json()}" if f.fault else "")
                + f"\n  replay: python -m fuzz replay <entry>{op} --candidate {self.spec}"
            )

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, NsaFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.spec.rpartition(":")[0], None, self.name


class FamilyItem(_NsaItem):
    """One named case of an edge family (CONTRACT.md's, or with --nsa-op metadata issue 10's
    and, with --nsa-check-errors, one bad call per kind of fuzz/meta_contract.py)."""

    def runtest(self) -> None:
        if "[error: " in self.name:
            from fuzz.meta_contract import named_bad_cases

            family = "error: " + self.name.split("[error: ", 1)[1][:-1]
            found = named_bad_cases(self.envelope()).get(family)
            if found is None:
                pytest.skip(f"{family}: no case inside the candidate's envelope")
            self.judge(*found)
            return
        family = self.name.split("[family: ", 1)[1][:-1]
        if self.meta:
            from fuzz.meta_strategies import named_meta_cases

            case = named_meta_cases()[family]
        else:
            from fuzz.contract import NAMED_CASES

            case = NAMED_CASES[family]
        case = self.restrict(case)
        if case is None:
            pytest.skip(f"{family}: outside the candidate's envelope")
        self.judge(case)


class PropertyItem(_NsaItem):
    """Hypothesis draws under the chosen profile; a failure is shrunk before it is shown."""

    def __init__(self, *, bad: bool = False, **kw):
        super().__init__(**kw)
        self.bad = bad

    def runtest(self) -> None:
        from hypothesis import given

        from fuzz.strategies import bad_calls, batches

        env = self.envelope()
        if self.meta:
            from fuzz.meta_strategies import meta_bad_cases, meta_cases

            if self.bad:

                @given(meta_bad_cases(env))
                def prop(bad) -> None:
                    self.judge(*bad)

            else:

                @given(meta_cases(env))
                def prop(case) -> None:
                    self.judge(case)

        elif self.bad:

            @given(bad_calls(with_out=False, envelope=env))
            def prop(bad) -> None:
                self.judge(*bad)

        else:

            @given(batches(min_size=1, max_size=8, envelope=env))
            def prop(cases) -> None:
                for case in cases:
                    self.judge(case)

        prop()


class CorpusItem(_NsaItem):
    """One corpus entry (or shipped regression seed), replayed against the candidate."""

    def __init__(self, *, path: Path, **kw):
        super().__init__(**kw)
        self.path = path

    def runtest(self) -> None:
        import fuzz.meta_entry  # noqa: F401  (the decoder of "metadata" entries)
        from fuzz import corpus

        entry = corpus.load(self.path)  # an unreadable entry fails this item, named
        op = self.config.getoption("nsa_op")
        if entry.op != op:
            pytest.skip(f"{self.path.name}: a {entry.op!r} entry; this run is --nsa-op {op}")
        case = entry.case
        if entry.fault is None:
            case = self.restrict(case)
            if case is None:
                pytest.skip(f"{self.path.name}: outside the candidate's envelope")
        # An entry's calls before its case (a candidate that keeps state) run first.
        self.judge(case, entry.fault, corpus.before_items(entry))


def pytest_report_header(config: pytest.Config) -> str | None:
    if not _enabled(config):
        return None
    return "nsa-meta-fuzz: candidates " + ", ".join(config.getoption("nsa_candidate"))
