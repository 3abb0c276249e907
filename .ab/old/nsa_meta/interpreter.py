"""Whether Triton runs through its CPU interpreter; decided before Triton is imported."""

import os
import sys


def interpreting() -> bool:
    """True when TRITON_INTERPRET asks for the interpreter."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def use_interpreter() -> None:
    """Turn the interpreter on; an error if Triton was already imported without it."""
    if interpreting():
        return
    if "triton" in sys.modules:
        raise RuntimeError(
            "triton was imported before TRITON_INTERPRET=1 was set; set it in the "
            "environment (TRITON_INTERPRET=1) or call use_interpreter() first"
        )
    os.environ["TRITON_INTERPRET"] = "1"
