"""Figures for managers, computed by the database from the server-stamped status history."""
