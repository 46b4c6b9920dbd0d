"""Network layer: DAG over integer ids, tabular CPDs, the BayesianNetwork value."""
