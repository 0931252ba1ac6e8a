"""Template / search crop pairs: the crop geometry, pair sampling and augmentation, and the
synthetic source with its assets. Training samples from them and the int8 calibration crops
its inputs with them, so they sit below both.
"""
