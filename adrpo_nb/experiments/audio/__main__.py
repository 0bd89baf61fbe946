"""``python -m adrpo_nb.experiments.audio ...``: the audio experiment's command line."""

from adrpo_nb.experiments.audio.run import main

raise SystemExit(main())
