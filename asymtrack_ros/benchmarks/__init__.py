"""Speed measurements: engines (``asymtrack bench``), models side by side (``--all``) and the
tracker node's added latency over real DDS. Figures, never pass/fail bars.
"""
