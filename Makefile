# Development build of asymtrack_ros against ROS 2 Kilted installed from PyPI
# wheels into .venv (no system ROS needed). Run make from the repository root.
#
#   make setup   venv + requirements + /opt/python links + colcon build + ROS 2 launch
#                (from LAUNCH_SRC, where none is importable) + Chromium (idempotent)
#   make build   colcon build only
#   make test    pytest over test/ with the built package (real rclpy, loopback DDS)
#   make demo    python -m asymtrack_ros.sim.demo   (make demo DEMO_ARGS="--family seat": with SEAT-lt)
#   make clean   remove build/ install/ log/   (make distclean: also .venv)
#
# Pitfalls met with the wheels (see scripts/env.sh too):
# - The wheels' message CMake configs name /opt/python/cp311-cp311/... include
#   dirs of the manylinux build image: scripts/link_wheel_paths.sh links them to
#   this venv's Python and NumPy headers before every build.
# - ament/CMake find the wheels only with AMENT_PREFIX_PATH and CMAKE_PREFIX_PATH
#   set to the venv prefix.
# - The wheels are cp311 only: the venv must be made with Python 3.11.
# - colcon must not crawl .venv (the wheels put package.xml files under
#   .venv/share): the build passes --paths . and .venv gets a COLCON_IGNORE.
# - Some wheels miss dependencies they need at build time (see the comments in
#   requirements-ros.txt): CMake then fails in find_package().
# - rosidl_generate_interfaces() and ament_python_install_package() of the same
#   name collide: CMakeLists.txt installs the Python package itself.
# - The venv lies inside the source tree, which CMake refuses in exported
#   include dirs: NumPy's include dir is passed through the /opt/python link.
# - The generated install/setup.bash does not put the package's Python and
#   library dirs on PYTHONPATH / LD_LIBRARY_PATH: scripts/env.sh does, and sets
#   PYTHONSAFEPATH so that the source folder asymtrack_ros/ (which lacks the
#   generated asymtrack_ros.msg) cannot shadow the installed package.
# - colcon warns that .venv in AMENT_PREFIX_PATH has no local_setup.* files:
#   expected with the wheels, harmless.
# - The operator page's browser tests drive the distribution's Chromium through
#   Playwright (pip); `playwright install` (which downloads browsers) is never
#   used. setup installs the apt package `chromium` unless $(CHROMIUM) exists.
# - The wheels lack the launch system: setup builds it from LAUNCH_SRC (default
#   ../shared/ros2-launch, the upstream sources; README, "Launch files") into the
#   venv unless `import launch` already works (ROS from packages, sourced).

SHELL := /bin/bash
.SHELLFLAGS := -e -o pipefail -c
.DEFAULT_GOAL := setup
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.asymtrack-deps.stamp
BUILD_STAMP := install/.asymtrack-build.stamp
PYTEST_ARGS ?=
CHROMIUM := /usr/bin/chromium
LAUNCH_SRC ?= ../shared/ros2-launch
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# --symlink-install: the installed Python package and node scripts are symlinks
# to the sources, so editing a file needs no rebuild; adding or removing one
# does. FILES_LIST holds the sorted file names and is rewritten only when that
# list changes, so the build stamp depends on names, not contents.
FILES_LIST := build/.asymtrack-files
ifeq ($(filter clean distclean,$(MAKECMDGOALS)),)
_files_list := $(shell mkdir -p build && \
  find asymtrack_ros launch config scripts/nodes scripts/asymtrack -type f \
    -not -path '*/__pycache__/*' -not -name '*.py[co]' 2>/dev/null | LC_ALL=C sort \
    > $(FILES_LIST).new && \
  { cmp -s $(FILES_LIST).new $(FILES_LIST) && rm -f $(FILES_LIST).new || \
    mv -f $(FILES_LIST).new $(FILES_LIST); })
endif

BUILD_INPUTS := package.xml CMakeLists.txt $(wildcard msg/*.msg) $(FILES_LIST)

# NumPy's headers through the /opt/python link (scripts/link_wheel_paths.sh):
# FindPython would report the real path inside .venv, i.e. inside the source
# tree, and CMake refuses to export an include dir there ("INTERFACE_INCLUDE_
# DIRECTORIES property contains path ... which is prefixed in the source
# directory").
NUMPY_INCLUDE_LINK := /opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include

COLCON_ARGS := --paths . --merge-install --symlink-install \
  --build-base build --install-base install \
  --event-handlers console_cohesion- desktop_notification- status- \
  --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE=$(abspath $(VPY)) \
    -DPython3_NumPy_INCLUDE_DIR=$(NUMPY_INCLUDE_LINK)

# colcon build with only the wheels' prefix in the environment (install/ of
# this package deliberately not sourced while building it).
define colcon_build
	scripts/link_wheel_paths.sh $(VPY)
	touch $(VENV)/COLCON_IGNORE
	source $(VENV)/bin/activate && \
	  export AMENT_PREFIX_PATH="$(abspath $(VENV))" CMAKE_PREFIX_PATH="$(abspath $(VENV))" && \
	  colcon build $(COLCON_ARGS)
	find install -xtype l -delete  # symlinks left behind by removed source files
	touch $(BUILD_STAMP)
endef

.PHONY: setup build ros2-launch test demo clean distclean

setup: $(BUILD_STAMP) ros2-launch $(CHROMIUM)

# Checks every time (about a second); installs only where launch is not importable.
ros2-launch: $(DEPS_STAMP)
	scripts/install_launch.sh $(abspath $(VPY)) $(LAUNCH_SRC) build/ros2-launch

$(CHROMIUM):
	$(SUDO) apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

$(VPY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || \
	  { echo "The ROS 2 Kilted wheels need Python 3.11; run: make setup PYTHON=python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# pip's find-links/extra index warnings are filtered; errors still fail the build.
$(DEPS_STAMP): $(VPY) requirements.txt requirements-ros.txt
	$(VPY) -m pip install --progress-bar off -q -r requirements.txt -r requirements-ros.txt 2>&1 \
	  | { grep -v "^WARNING: Location 'file:" || true; }
	touch $@

$(BUILD_STAMP): $(DEPS_STAMP) $(BUILD_INPUTS)
	$(colcon_build)

build: $(DEPS_STAMP)
	$(colcon_build)

# pytest exits 5 when it collected no tests: that fails here like any error.
test: setup
	@echo ". scripts/env.sh && python -m pytest -q test $(PYTEST_ARGS)"
	@. scripts/env.sh && python -m pytest -q test $(PYTEST_ARGS) || rc=$$?; \
	if [ "$${rc:-0}" -eq 5 ]; then \
	  echo "make test: NO TESTS COLLECTED (pytest exit 5)" >&2; \
	fi; \
	exit $${rc:-0}

demo: setup
	. scripts/env.sh && python -m asymtrack_ros.sim.demo $(DEMO_ARGS)

clean:
	rm -rf build install log

distclean: clean
	rm -rf $(VENV)
