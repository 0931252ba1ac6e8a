"""The SEAT architecture search (``asymtrack search``): a supernet over the fusion neck,
trained on pairs with a latency penalty from a measured table; above training, whose data
readers it uses.
"""
