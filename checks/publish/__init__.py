"""What people read, made from stored results: reports, class overview, exports, overrides, the self-check summary."""
