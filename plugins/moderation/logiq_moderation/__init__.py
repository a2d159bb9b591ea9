"""Logiq's moderation feature (a plugin: ``pip install "logiq[moderation]"``)."""
