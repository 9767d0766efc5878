"""The statistics: metrics, paired intervals and tests, slices, gates, drift."""
