"""The lowest layer: paths of the data folder, atomic writes, checkpoint I/O, provenance."""
