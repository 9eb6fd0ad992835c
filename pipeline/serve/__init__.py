"""``pivotrec serve INDEX``: an HTTP service (FastAPI, uvicorn) over a persistent index, and a small page.

``app.py`` holds the endpoints (``/search``, ``/recommend``, ``/users``,
``/health``, OpenAPI at ``/openapi.json`` and ``/docs``), ``page.py`` the page
at ``/``, ``cli.py`` the command. FastAPI and uvicorn are the ``serve`` extra:
``pip install 'pivotrec[serve]'``.
"""
