"""Files the package reads and writes: frame sources, box files, name lists, and where its
own data (shipped weights, config files) lives.
"""
