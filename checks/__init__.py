"""The grader: intake, sandboxed execution, checks against the reference, reports."""
