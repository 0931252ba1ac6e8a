# shellcheck shell=bash
# Development environment for asymtrack_ros with ROS 2 Kilted from PyPI wheels.
#
#   . scripts/env.sh          (from any directory; bash or zsh)
#
# Activates .venv, points ament/CMake at the ROS wheels in it, selects Fast DDS,
# keeps DDS discovery on this machine, and overlays the colcon build in install/
# (created by `make setup` / `make build`).
#
# Overridable: ROS_DOMAIN_ID (default 42), ROS_AUTOMATIC_DISCOVERY_RANGE
# (default LOCALHOST), ROS_LOCALHOST_ONLY (default 1).

if [ -n "${BASH_VERSION:-}" ]; then
  _asym_src="${BASH_SOURCE[0]}"
elif [ -n "${ZSH_VERSION:-}" ]; then
  eval '_asym_src="${(%):-%x}"'
else
  _asym_src="$0"
fi
_asym_root="$(CDPATH= cd -- "$(dirname -- "$_asym_src")/.." && pwd)"
unset _asym_src

if [ ! -f "$_asym_root/.venv/bin/activate" ]; then
  echo "scripts/env.sh: $_asym_root/.venv is missing; run 'make setup' first" >&2
  unset _asym_root
  return 1 2>/dev/null || exit 1
fi

# Prepend a directory to a colon-separated variable unless already in it.
_asym_prepend() {
  eval "_asym_cur=\"\${$1:-}\""
  case ":$_asym_cur:" in
    *":$2:"*) ;;
    *) if [ -n "$_asym_cur" ]; then eval "export $1=\"\$2:\$_asym_cur\""; else eval "export $1=\"\$2\""; fi ;;
  esac
  unset _asym_cur
}

# shellcheck disable=SC1091
. "$_asym_root/.venv/bin/activate"
_asym_venv="$_asym_root/.venv"

# The ROS wheels install an ament prefix (share/, lib/, include/) into the venv.
_asym_prepend AMENT_PREFIX_PATH "$_asym_venv"
_asym_prepend CMAKE_PREFIX_PATH "$_asym_venv"

# Fast DDS is the only RMW installed from the wheels.
export RMW_IMPLEMENTATION=rmw_fastrtps_cpp

# Keep discovery and traffic on this machine (shared memory + loopback).
# Kilted reads only ROS_AUTOMATIC_DISCOVERY_RANGE (LOCALHOST: no multicast,
# shared memory and UDP on loopback); ROS_LOCALHOST_ONLY is what Humble reads.
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export ROS_LOCALHOST_ONLY="${ROS_LOCALHOST_ONLY:-1}"
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-42}"

# Shared libraries of the ROS wheels: the venv's lib/ plus the ros_*.libs
# folders that auditwheel vendored (libssl, tinyxml2, ...). The wheels'
# ros_wheels_bootstrapper.pth otherwise re-executes *every* Python process of
# this venv to set LD_LIBRARY_PATH; with it set here, the guard variable below
# skips that re-exec.
for _asym_d in "$_asym_venv"/lib/python3*/site-packages/ros_*.libs; do
  if [ -d "$_asym_d" ]; then _asym_prepend LD_LIBRARY_PATH "$_asym_d"; fi
done
_asym_prepend LD_LIBRARY_PATH "$_asym_venv/lib"
export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1

# Overlay this package's colcon install (merged layout, see Makefile).
_asym_install="$_asym_root/install"
if [ -d "$_asym_install" ]; then
  # The colcon setup scripts read unset variables: relax `set -u` meanwhile.
  case "$-" in *u*) _asym_nounset=1; set +u ;; *) _asym_nounset= ;; esac
  if [ -n "${ZSH_VERSION:-}" ] && [ -f "$_asym_install/setup.zsh" ]; then
    # shellcheck disable=SC1091
    . "$_asym_install/setup.zsh"
  elif [ -f "$_asym_install/setup.bash" ]; then
    # shellcheck disable=SC1091
    . "$_asym_install/setup.bash"
  fi
  if [ -n "$_asym_nounset" ]; then set -u; fi
  # Not every generated setup file puts the package's Python and library
  # directories on the search paths with these wheels: make sure of them here.
  _asym_prepend AMENT_PREFIX_PATH "$_asym_install"
  _asym_prepend CMAKE_PREFIX_PATH "$_asym_install"
  _asym_prepend LD_LIBRARY_PATH "$_asym_install/lib"
  _asym_prepend PATH "$_asym_install/bin"
  for _asym_d in "$_asym_install"/lib/python3*/site-packages "$_asym_install"/local/lib/python3*/dist-packages; do
    if [ -d "$_asym_d" ]; then _asym_prepend PYTHONPATH "$_asym_d"; fi
  done
fi

# The source folder asymtrack_ros/ lacks the generated asymtrack_ros.msg, so it
# must not shadow the installed package (which symlinks to the same sources):
# stop `python -m ...` and `python script.py` from putting the current or the
# script's directory first on sys.path (Python >= 3.11).
export PYTHONSAFEPATH=1

unset _asym_root _asym_venv _asym_install _asym_d _asym_nounset
unset -f _asym_prepend
