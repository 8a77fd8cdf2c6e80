"""Backends run jobs: the local engine process first, remote servers (ComfyUI) later.

``base.Backend`` is the seam: submit a frozen request, cancel it, receive events (progress,
preview, result, error) through one listener, list the models it can use.
"""
