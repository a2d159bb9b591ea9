"""The Stoat client layer: models, permissions, events, the gateway, REST, rate limits, the cache, uploads.

Usable on its own: nothing here imports the plugin framework (``logiq_core.framework``) or the
application (``logiq_core.app``); ``tests/unit/test_layers.py`` enforces it.
"""
