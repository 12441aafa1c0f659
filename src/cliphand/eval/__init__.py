"""Evaluation with the field's official protocols (numpy only; never imports torch).

metrics.py     Procrustes, errors, PCK/AUC and F-scores, vectorised
protocols.py   FreiHAND, RHD and Dexter+Object evaluations built from them
predictions.py reading, checking and writing prediction files (pred.json, the zip)
report.py      the scores table, PCK-curve plots and the paper-style comparison table
"""
