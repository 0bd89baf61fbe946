"""``python -m adrpo_nb.experiments.mnist ...``: the mnist experiment's command line."""

from adrpo_nb.experiments.mnist.run import main

raise SystemExit(main())
