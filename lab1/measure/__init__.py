"""Measuring one run's configurations: the machine's limits (limits), one configuration's
operator stats, traces and throughput (profiling), a step's time split (breakdown), the
step-time ladder and its fit (stepmodel), achieved FLOP/s, share of peak and roofline points
(analysis). Data only: no words, no figures.

May import: lab1, lab1.host, lab1.run.
"""
