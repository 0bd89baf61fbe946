"""``python -m adrpo_nb.experiments.sd3 ...``: the sd3 experiment's command line."""

from adrpo_nb.experiments.sd3.run import main

raise SystemExit(main())
