"""A plugin whose import fails: the core must mark it failed and carry on."""

raise RuntimeError("this sample plugin fails on import")
