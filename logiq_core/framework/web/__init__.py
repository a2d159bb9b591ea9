"""What plugins and the core's commands know of the web dashboard: the pages plugins register
(:mod:`.pages`), signed links they send (:mod:`.links`), permissions from the cache
(:mod:`.access`), the public switch (:mod:`.public`) and ``!dashboard`` (:mod:`.commands`).
The server itself is the application's (:mod:`logiq_core.app.web`)."""
