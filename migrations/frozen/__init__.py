"""Frozen copies of the code that migrations run, as it was when each migration was written.

A migration must do today what it did the day it was written, whatever the app's code has
become since: it imports from here, never from `kitchen`. Each module is named for the
revision that first needed it, and is never edited after that revision has shipped.
"""
