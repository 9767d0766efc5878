"""Tables: files, SQL and Spark sources, feature kinds, and their validation with Great Expectations."""
