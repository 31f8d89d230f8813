"""Benchmarks: each case runs userops and a competent baseline in the same run, and prints the
ratio, because the machines are shared and noisy. `make bench` runs them all."""
