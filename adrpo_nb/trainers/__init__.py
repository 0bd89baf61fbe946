"""Trainers: one per model family, each with the ``method`` switch."""

from adrpo_nb.trainers.flow_matching import FlowMatchingRLConfig, FlowMatchingRLTrainer, FlowSamples

__all__ = ["FlowMatchingRLConfig", "FlowMatchingRLTrainer", "FlowSamples"]
