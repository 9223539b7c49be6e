"""The grading core: mark schemes, the check API and its context, results and per-task scores,
written answers, figure placement."""
