"""Runs a student's notebook in the sandbox and talks to its kernel; everything the kernel writes is hostile input."""
