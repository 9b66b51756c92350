"""Serve a WSGI app with waitress; port 0 picks a free port, printed in the URL."""

import sys

import waitress


def make_server(app, host="127.0.0.1", port=5000, threads=4):
    """A waitress server bound to (host, port); `server.effective_port` is the real port."""
    return waitress.create_server(app, host=host, port=port, threads=threads, ident="mrcnn-api")


def server_url(server):
    host = server.effective_host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{server.effective_port}/"


def serve(app, host="127.0.0.1", port=5000, threads=4, out=sys.stdout):
    """Bind, print 'Serving on <url>' to `out` (flushed), then serve until interrupted."""
    server = make_server(app, host, port, threads)
    print(f"Serving Mask R-CNN API on {server_url(server)} (threads={threads}; Ctrl+C to stop)", file=out, flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
