"""The revisions that key the export cache, apart from the modules that write the graphs so
that finding a cached export imports neither torch nor onnx.
"""

GRAPHS_REVISION = 3  # bump when the exported graphs change: cached exports of older revisions are redone
INT8_REVISION = 2  # bump when the quantised graph changes for the same fp32 export
