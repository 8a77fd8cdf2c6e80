"""ComfyUI servers as generation backends.

``workflow`` turns a ``GenerationRequest`` into ComfyUI's API-format graph, ``client`` speaks its
HTTP and WebSocket API with limits on everything the server sends, ``models`` matches the server's
files to local ones, ``backend`` is the ``Backend`` for one server, ``pool`` spreads jobs over
several, and ``config`` keeps the list of servers (tokens in the keyring).
"""
