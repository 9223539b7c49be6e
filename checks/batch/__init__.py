"""Grading a whole class: the result cache, capacity, progress."""
