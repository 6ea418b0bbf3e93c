"""Maths shared by several tasks and tools, in NumPy: nothing here builds a model or reads a spec.

`softmax`: the one shifted (overflow-free) softmax and log-softmax used by reports, ensembles and
sample-quality judges.
"""
