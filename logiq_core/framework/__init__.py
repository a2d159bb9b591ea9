"""The plugin framework: plugins and hooks, policy, dispatch, listeners, jobs, timers, commands, rollout.

Built on the Stoat client (``logiq_core.stoat``); imports nothing of the application
(``logiq_core.app``). ``tests/unit/test_layers.py`` enforces the direction.
"""
