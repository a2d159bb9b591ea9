"""Logiq's economy feature (a plugin: ``pip install "logiq[economy]"``)."""
