"""Work as a graph of tasks (train a fold, write a vector, merge a fold, extract a slide),
run one after another in this process or spread over a Ray cluster.

Tasks carry paths and small option objects, never tensors: every task reads its inputs from
the workspace and writes its outputs there through the same atomic writers, so the workspace
stays the single source of truth and a rerun skips what is finished.
"""
