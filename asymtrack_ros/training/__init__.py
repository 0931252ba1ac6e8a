"""Training pipeline for AsymTrack: data sources, pair sampling and augmentation, synthetic
sequences, the training loop with official-layout checkpoints, and shipping.
"""
