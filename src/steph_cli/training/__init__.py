"""The one training loop, and the jobs built on it (experts; learned merges reuse the loop)."""
