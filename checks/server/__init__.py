"""The course server: self-check uploads graded in the sandbox, the TML25 LIME scoreboard, TA marking."""
