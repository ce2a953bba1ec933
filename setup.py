"""setuptools description of the package's Python side: its modules and node executables.

CMakeLists.txt runs this file during ``colcon build`` (``egg_info`` and ``install_scripts``, as
``ament_python_install_package()`` does with the setup.py it generates), so the executables in
``lib/vlm_seg_ros`` and the installed metadata come from here. The build type stays
``ament_cmake`` because only CMake generates ``vlm_seg_ros.msg``. Name, version, description
and licence are read from package.xml so the two manifests cannot drift.
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
    python_requires='>=3.11',
    entry_points={
        'console_scripts': [
            'perception_node = vlm_seg_ros.ros.nodes.perception_node:main',
            'download-models = vlm_seg_ros.tools.download_models:cli',
            'kitti-to-bag = vlm_seg_ros.tools.kitti_to_bag:cli',
            'process-bag = vlm_seg_ros.tools.process_bag:cli',
        ],
    },
)
