"""Evaluation on data with relevance labels: metrics, datasets, compare runs, reports."""
