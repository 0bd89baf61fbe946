"""Experiments: one sub-package per model family (``mnist``, ``sd3``, ``qwen``, ``audio``), each with its
runs, pretraining and command line (``python -m adrpo_nb.experiments.<family> ...``), the shared runner
(smoke mode, book runs, parallel jobs, provenance) and the benchmarks. Results are written with provenance.
"""
