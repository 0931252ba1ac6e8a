"""Installs the ROS-free core of asymtrack_ros with pip (`pip install .`).

The ROS 2 package (messages, nodes) is built by colcon from CMakeLists.txt and
package.xml; that build does not use this file.
"""

from setuptools import find_packages, setup

setup(
    name="asymtrack_ros",
    version="0.1.0",
    description="Single-object visual tracking (AsymTrack / SEAT style) with ROS 2 nodes",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["asymtrack_ros", "asymtrack_ros.*"]),
    package_data={"asymtrack_ros": ["data/*", "web/static/*"]},
    include_package_data=False,
    install_requires=[
        "numpy",
        "opencv-contrib-python-headless",
        "onnx",
        "onnxruntime",
        "torch>=2.1",
        "tqdm",
    ],
    extras_require={"train": ["pyyaml", "matplotlib"]},  # asymtrack train / synth / ship
    entry_points={
        "console_scripts": [
            "asymtrack=asymtrack_ros.cli:main",
        ],
    },
)
