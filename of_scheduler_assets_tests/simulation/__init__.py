"""Tests of the ranker simulation against a generated world's truth (30-ml-and-ranking §10.1)."""
