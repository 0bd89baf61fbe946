"""The data files of ``adrpo_nb``, installed with the package as ``adrpo_nb_data`` (this folder is the repository's
``data/``). Read them through :func:`adrpo_nb.utils.paths.data_path`, which also honours ``$ADRPO_DATA``."""
