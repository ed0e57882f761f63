"""``kept_grads``: run a backward pass of one's own and leave every ``.grad`` as it was found."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def kept_grads(tensors):
    """Inside the block each tensor's ``.grad`` is None, so a backward pass run there is seen alone;
    on leaving (normally or by an exception) every ``.grad`` is put back as it was found.

    Read what the block's pass computed before the block ends::

        with kept_grads(model.parameters()):
            loss.backward()
            mine = [p.grad.copy() for p in model.parameters()]
    """
    tensors = list(tensors)
    saved = [t.grad for t in tensors]
    for t in tensors:
        t.grad = None
    try:
        yield tensors
    finally:
        for t, g in zip(tensors, saved):
            t.grad = g
