"""The playground's web server: a thin Starlette adapter around `backlit.playground.session.Playground`.

`protocol` (pure: the config table, validation, frame packing) is imported by the session object too;
`app` holds the Starlette routes and the WebSocket loop; `run` is the `backlit serve` command.
"""

__all__ = ["create_app"]


def __getattr__(name):
    # Lazy, so `import backlit.server.protocol` does not pull in Starlette.
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
