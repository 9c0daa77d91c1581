"""Benchmarks: printed figures and ratios against CouchDB directly, not part of the tests."""
