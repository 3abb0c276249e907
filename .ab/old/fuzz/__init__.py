"""The differential fuzzer: strategies -> harness -> corpus -> cli.

A case flows one way: a strategy makes it, the harness runs every implementation on it
and compares with the reference, a mismatch becomes a corpus entry, replay turns entries
back into cases.
"""
