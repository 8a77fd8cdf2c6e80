"""huggingface_hub wrapper: search, model page, verified resumable downloads, tokens.

Modules: connection (endpoint/offline/cache, error sentences), search, card, download, queue,
tokens, names (unsafe file names), kinds (what a repo holds). huggingface_hub is imported inside
functions only.
"""
