"""The web dashboard served from the bot process (``[web]`` in plugins.toml).

One concern per module: :mod:`.config` (the ``[web]`` table), :mod:`.pages` (what plugins
register through ``logiq_register_web_pages``), :mod:`.links` (signed links plugins send),
:mod:`.tokens` (signing, single use), :mod:`.sessions` (cookies, CSRF), :mod:`.access`
(permissions from the bot's cache), :mod:`.server` (the aiohttp application), :mod:`.views`
(members' and managers' pages), :mod:`.ops` (operators' pages), :mod:`.chart` (SVG charts),
:mod:`.commands` (``!dashboard``).
"""
