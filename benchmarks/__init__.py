"""advconf's performance suite: ``python -m benchmarks`` prints a table and writes benchmarks/results/latest.json.

Every figure is a ratio of two sides measured in the same process, alternating between the sides
(A, B, A, B, ...), so that load from other processes on a shared machine hits both alike.
"""
