"""The kitchen's load: open work per station, and per brand a prep-time quote and a busy flag."""
