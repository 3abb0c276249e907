"""The campaign's closing lines: each failure with its cause and file, then the counts.

Strings that came from a candidate (messages, captured output) are escaped before they
reach the terminal: a kernel under test must not be able to print a fake verdict.
"""

from __future__ import annotations

from fuzz.report import Report


def printable(text: object) -> str:
    from fuzz.show import printable as escape

    return escape(str(text))


def failure_state(f: dict) -> str:
    if f.get("in_corpus_before"):
        return "in corpus before"
    if f.get("reproduced_alone") is False:
        return "not reproduced alone: " + f.get("why_not_shrunk", "")
    if f.get("shrunk"):
        partial = ", the budget ended first: maybe not the smallest"
        return (
            "shrunk"
            + (" from " + f["found_by"] if f.get("found_by") else "")
            + (partial if f.get("shrink_complete") is False else "")
        )
    return "not shrunk" + (" (" + f["why_not_shrunk"] + ")" if f.get("why_not_shrunk") else "")


def print_summary(report: Report) -> None:
    for f in report.failures:
        print(f"FAIL {printable(f['signature'])} ({failure_state(f)})")
        print(f"     cause: {printable(f.get('cause') or f['summary'])}")
        print(f"     case: {printable(f['case'])}")
        if f.get("original_case") and f["original_case"] != f["case"]:
            print(f"     found as: {printable(f['original_case'])}")
        if f.get("found_as"):  # shrunk to a case whose own signature is another
            print(f"     found with signature: {printable(f['found_as'])}")
        if f.get("fault"):
            print(f"     fault: {printable(f['fault'])}")
        if f.get("output_tail"):
            tail = printable(f["output_tail"][-400:]).replace("\\n", "\n       | ")
            print(f"     candidate output (last lines):\n       | {tail}")
        print(f"     file: {printable(f['file'])}")
    for s in report.slow:
        if s.get("answered", True):
            print(
                f"SLOW {printable(s['impl'])}: {s['seconds']:.1f} s on {printable(s['case'])} "
                "(answered when re-run with a longer limit: not a failure)"
            )
        else:
            print(
                f"TOO SLOW TO JUDGE {printable(s['impl'])}: still running after "
                f"{s['seconds']:.0f} s alone on {printable(s['case'])} (the Triton interpreter "
                "was still running its programs: not a hang, not a failure; judge it on a GPU "
                "or with a larger --confirm-seconds)"
            )
    for h in report.unconfirmed_hangs:
        print(
            f"UNCONFIRMED HANG {printable(h['impl'])} x{h['count']} (no verdict: the time "
            "budget cut its re-run short, or it was too slow to judge: not a failure)"
        )
    for impl, n in report.not_judged.items():
        print(
            f"NOT JUDGED {printable(impl)}: {n:,} case(s) sent but never answered (the time "
            "ended, or a hang or crash ended their batch, first): not counted as cases"
        )
    groups: dict[tuple, list[dict]] = {}
    for u in report.unreproduced_faults:
        groups.setdefault((u["impl"], u["status"], u["cause"]), []).append(u)
    for (impl, status, cause), us in groups.items():
        batches = "a bulk batch" if len(us) == 1 else f"{len(us)} bulk batches"
        print(
            f"UNREPRODUCED {printable(impl)}: {batches} ({sum(u['cases'] for u in us):,} cases)"
            + (
                " had values off the oracle"
                if status == "differed"
                else f" ended in {printable(status)}"
            )
            + f" ({printable(cause)}); no case re-run alone did so "
            "again (a flaky fault, or one that needs the calls before it: not a failure"
            + ("" if status == "differed" else "; those cases are not counted as screened")
            + ")"
        )
    for e in report.errors:
        print(f"ERROR {printable(e)}")
    div = ", ".join(f"{k} x{v}" for k, v in report.known_divergences.items()) or "none"
    impls = ", ".join(
        f"{k} {v['calls']:,} calls {v['seconds']:.1f}s" for k, v in report.implementations.items()
    )
    print(
        f"summary: {report.cases:,} cases in {report.seconds:.1f} s "
        f"({report.cases_per_second:,.0f} cases/s); {len(report.failures)} failure(s)"
        + (
            f"; {len(report.errors)} error(s) (the ERROR lines above: exit 3)"
            if report.errors
            else ""
        )
        + ("; interrupted" if report.interrupted else "")
    )
    print(
        f"         {report.opening_cases:,} named cases and shipped seeds and "
        f"{report.hypothesis_cases:,} drawn by Hypothesis through every selected "
        f"implementation, {report.bulk_cases:,} screened in bulk through the built-in "
        f"Triton kernel ({report.bulk_seconds:.1f} s), {report.plugin_bulk_cases:,} screened "
        f"in bulk through each plug-in, {report.shipped_path_cases:,} through the shipped "
        "public entry beside the batched path"
    )
    if report.opening_left:
        print(
            f"         --seconds ended before {report.opening_left:,} named cases and "
            "shipped seeds were run (more time runs them all)"
        )
    print(f"         implementations: {impls}")
    print(f"         known divergences (documented, not failures): {div}")
    if report.left_out:
        print("         outside the candidate's envelope, not tried: " + "; ".join(report.left_out))
