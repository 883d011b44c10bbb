"""The summary tables of the status history: written with each change, read by analytics.

They belong to the write side: every status change adds its rows in its own transaction
(`rows.py` says which rows, `kitchen.orders.stores` writes them), `backfill.py` computes them
again from the history, and `fold.py` folds their shards. `kitchen.analytics` only reads them.
"""
