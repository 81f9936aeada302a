"""``assay-server demo``'s story: ``credit_risk`` is ``docs/examples/credit_risk.py`` itself
(a symbolic link, so the story the docs show is the one the demo seeds)."""
