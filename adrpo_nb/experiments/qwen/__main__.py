"""``python -m adrpo_nb.experiments.qwen ...``: the qwen experiment's command line."""

from adrpo_nb.experiments.qwen.run import main

raise SystemExit(main())
