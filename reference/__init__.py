"""Trusted, correct implementations of every function an assignment asks for.

One sub-package per assignment. Nothing here ever imports student code.
"""
