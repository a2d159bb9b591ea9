"""The web dashboard served from the bot process (``[web]`` in plugins.toml).

One concern per module: :mod:`.config` (the ``[web]`` table), :mod:`.tokens` (signed,
single-use links), :mod:`.sessions` (cookies, CSRF), :mod:`.server` (the aiohttp application,
its start and stop), :mod:`.views` (members' and managers' pages, plugins' pages),
:mod:`.ops` (operators' pages), :mod:`.chart` (SVG charts), :mod:`.models` (what it stores).
What plugins use (pages, links, permissions, ``!dashboard``) is in
:mod:`logiq_core.framework.web`.
"""
