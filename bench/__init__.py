"""Benchmarks of QUALITY part C. Run with `make bench`; results go to var/bench/results.json."""
