#!/usr/bin/env bash
# The ROS 2 launch system (`ros2 launch`) into the venv, built from source, where none is
# importable. The Kilted wheels on PyPI lack it; with ROS installed from packages (its
# setup.bash sourced), launch is importable and this does nothing.
#
#   scripts/install_launch.sh PYTHON LAUNCH_SRC WORK_DIR
#
# LAUNCH_SRC holds src/<package> folders of ros2/launch, ros2/launch_ros, ros2/ros2cli,
# ros2/rosidl_runtime_py and ros2/rcl_interfaces (README, "Launch files" says how to get
# them). They are copied to WORK_DIR first: pip builds in the source tree, and LAUNCH_SRC
# may be read-only.
set -euo pipefail

py="${1:?usage: $0 PYTHON LAUNCH_SRC WORK_DIR}"
src="${2:?usage: $0 PYTHON LAUNCH_SRC WORK_DIR}"
work="${3:?usage: $0 PYTHON LAUNCH_SRC WORK_DIR}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# -P: the repository's launch/ folder must not pass for the launch package.
if "$py" -P -c 'import launch, launch_ros.actions, ros2launch' 2>/dev/null; then
  exit 0
fi

python_pkgs=(launch launch_xml launch_yaml launch_ros ros2cli ros2pkg ros2run ros2node
  ros2topic ros2service ros2param ros2launch rosidl_runtime_py)
for pkg in "${python_pkgs[@]}" composition_interfaces; do
  if [ ! -f "$src/src/$pkg/package.xml" ]; then
    echo "$0: no launch sources in $src (missing src/$pkg); set LAUNCH_SRC (README, 'Launch files')" >&2
    exit 1
  fi
done

echo "installing ROS 2 launch from $src"
venv="$("$py" -c 'import sys; print(sys.prefix)')"
rm -rf "$work/src"
mkdir -p "$work"
cp -r "$src/src" "$work/src"
chmod -R u+w "$work/src"

pip() {  # pip's find-links warnings filtered (as in the Makefile); errors still fail
  "$py" -m pip install --progress-bar off -q "$@" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }
}
pip -r "$root/requirements-launch.txt"
(cd "$work/src" && pip --no-deps --no-build-isolation "${python_pkgs[@]/#/./}")

# launch_ros imports composition_interfaces, a message package no wheel provides: built with
# the wheels' rosidl generators like the project's own messages (see the Makefile) and
# installed into the venv, whose share/ and lib/ the ament index and the loader search.
"$root/scripts/link_wheel_paths.sh" "$py"
numpy_include=/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include
export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv" PATH="$venv/bin:$PATH"
cmake -S "$work/src/composition_interfaces" -B "$work/build/composition_interfaces" \
  -DCMAKE_INSTALL_PREFIX="$venv" -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$py" \
  -DPython3_NumPy_INCLUDE_DIR="$numpy_include" >"$work/composition_interfaces.log"
cmake --build "$work/build/composition_interfaces" -j "$(nproc)" >>"$work/composition_interfaces.log"
cmake --install "$work/build/composition_interfaces" >>"$work/composition_interfaces.log"

"$py" -P -c 'import launch, launch_ros.actions, ros2launch' || {
  echo "$0: launch still not importable after installing it (log: $work/composition_interfaces.log)" >&2
  exit 1
}
echo "installed ROS 2 launch into $venv ('ros2 launch' after '. scripts/env.sh')"
