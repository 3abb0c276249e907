"""GPU campaign candidates: the shipped backends behind the v2 plug-in signature."""

import nsa_meta


def triton_correct(**kw):
    return nsa_meta.metadata(backend="triton", validate=False, **kw)


def torch_correct(**kw):
    return nsa_meta.metadata(backend="torch", validate=False, **kw)
