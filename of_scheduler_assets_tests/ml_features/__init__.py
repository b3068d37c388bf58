"""Tests of the ML feature layer (30-ml-and-ranking §2–§4): caption priors and the feature store."""
