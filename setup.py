"""pip/setuptools description of the Python code, for use outside a colcon workspace.

colcon builds this package with CMake (see CMakeLists.txt): only that build generates the
``vlm_seg_ros.msg`` messages, so ROS nodes need it. This file lets ``pip install .`` (or a
wheel) carry the same code to a plain Python environment, where the ROS-free modules work on
their own. Name, version, description and licence are read from package.xml so the two
descriptions cannot drift.
"""

from pathlib import Path
import xml.etree.ElementTree as ET

from setuptools import find_packages, setup

manifest = ET.parse(Path(__file__).with_name('package.xml')).getroot()


def _text(tag: str) -> str:
    return ' '.join(manifest.findtext(tag, '').split())


setup(
    name=_text('name'),
    version=_text('version'),
    description=_text('description'),
    license=_text('license'),
    maintainer=_text('maintainer'),
    maintainer_email=manifest.find('maintainer').get('email'),
    packages=find_packages(include=['vlm_seg_ros', 'vlm_seg_ros.*']),
    python_requires='>=3.10',
    install_requires=['numpy'],
)
