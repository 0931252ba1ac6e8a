#!/usr/bin/env bash
# The ROS 2 Kilted wheels were built in a manylinux image, and the CMake configs
# of their message packages (share/*/cmake/export_*__rosidl_generator_pyExport.cmake)
# name that image's Python and NumPy include directories:
#   /opt/python/cp311-cp311/include/python3.11
#   /opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include
# Generating Python messages fails unless those paths exist. Point them at the
# given interpreter's include directory and its NumPy include directory.
#
#   scripts/link_wheel_paths.sh PYTHON
set -euo pipefail

py="${1:?usage: $0 PYTHON}"
prefix=/opt/python/cp311-cp311

py_inc="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
np_inc="$("$py" -c 'import numpy; print(numpy.get_include())')"
[ -f "$py_inc/Python.h" ] || { echo "$0: no Python.h in $py_inc (install the Python headers)" >&2; exit 1; }
[ -d "$np_inc" ] || { echo "$0: NumPy include dir $np_inc not found" >&2; exit 1; }

sudo=
if [ "$(id -u)" -ne 0 ]; then
  if ! mkdir -p "$prefix" 2>/dev/null || [ ! -w "$prefix" ]; then
    command -v sudo >/dev/null || { echo "$0: cannot write $prefix (needs root)" >&2; exit 1; }
    sudo=sudo
  fi
fi

link() {  # TARGET LINK
  local target="$1" link="$2"
  if [ -e "$link" ] && [ ! -L "$link" ]; then
    # A real directory (e.g. an actual manylinux Python): leave it alone.
    return 0
  fi
  if [ "$(readlink "$link" 2>/dev/null || true)" != "$target" ]; then
    $sudo mkdir -p "$(dirname "$link")"
    $sudo ln -sfn "$target" "$link"
  fi
}

link "$py_inc" "$prefix/include/python3.11"
link "$np_inc" "$prefix/lib/python3.11/site-packages/numpy/_core/include"
