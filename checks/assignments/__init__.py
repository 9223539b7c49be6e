"""One folder per assignment: its mark scheme (assignment.toml) and its checks."""
