"""What a check sees when the student's own code raised, or the kernel could take no more calls: kept apart
from the proxy so the grading core can name them without loading the kernel client."""

from __future__ import annotations

KNOWN_CAUSES = {
    (
        "AttributeError",
        "'NoneType' object has no attribute 'abs'",
    ): "x.grad is None: the input is not a leaf tensor. `(x + noise).requires_grad_(True)` builds a "
    "non-leaf; detach first: `(x.detach() + noise).requires_grad_(True)`",
}


class StudentCallError(Exception):
    """The student's own code raised; the message is theirs."""

    def __init__(self, target: str, kind: str, detail: str) -> None:
        super().__init__(f"{target} raised {kind}: {detail}")
        self.target, self.kind, self.detail = target, kind, detail
        self.cause = next((cause for (k, text), cause in KNOWN_CAUSES.items() if k == kind and text in detail), None)


class MissingName(StudentCallError):
    pass


class GradingTimeUp(TimeoutError):
    """The submission's time for grader calls ran out, or its kernel stopped answering: the checks not yet
    made are not run, which is no verdict on the student's work."""


class KernelUnavailable(GradingTimeUp):
    """The kernel died during a grader call, or ignored an interrupt: no further calls can be made."""
