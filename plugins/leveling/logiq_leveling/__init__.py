"""Logiq's leveling feature (a plugin: ``pip install "logiq[leveling]"``)."""
