"""X/Y/Z grids: axes and their text syntax, one request per cell, the runner, the grid PNG.

Axes are plain values (``GridSpec``); ``cells`` turns a spec and a base request into frozen
requests; ``run_cells`` runs any iterable of cells on one engine; ``write_grid`` saves the grid PNG
(with the axes in a text chunk, read back by ``read_grid_setup``) and each cell's own PNG.
"""
