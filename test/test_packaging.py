"""The package's manifests: package.xml for ROS tooling and setup.py for pip."""

from __future__ import annotations

import ast
from importlib import metadata
import os
from pathlib import Path
import sys

from catkin_pkg.package import parse_package
import pytest

REPO = Path(__file__).resolve().parents[1]

# rosdep key of every third-party module the package's code imports. A new import fails the
# test below until it is added here and to package.xml.
ROSDEP_KEYS = {
    'ament_index_python': 'ament_index_python',
    'builtin_interfaces': 'builtin_interfaces',
    'cv2': 'python3-opencv',
    'diagnostic_msgs': 'diagnostic_msgs',
    'geometry_msgs': 'geometry_msgs',
    'huggingface_hub': 'python3-transformers-pip',
    'PIL': 'python3-pil',
    'numpy': 'python3-numpy',
    'open3d': 'python3-open3d',
    'pypatchworkpp': 'python3-pypatchworkpp-pip',
    'rcl_interfaces': 'rcl_interfaces',
    'rclpy': 'rclpy',
    'rosbags': 'python3-rosbags-pip',
    'scipy': 'python3-scipy',
    'sensor_msgs': 'sensor_msgs',
    'std_msgs': 'std_msgs',
    'tf2_ros': 'tf2_ros',
    'torch': 'python3-torch',
    'tqdm': 'python3-tqdm',
    'transformers': 'python3-transformers-pip',
    'visualization_msgs': 'visualization_msgs',
    'yaml': 'python3-yaml',
}


def imported_top_level_modules(folder: Path) -> set[str]:
    modules: set[str] = set()
    for path in folder.rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split('.')[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split('.')[0])
    # sam2: Meta's package, an optional backend imported only when asked for.
    return modules - set(sys.stdlib_module_names) - {'vlm_seg_ros', '__future__', 'sam2'}


def test_package_xml_parses_with_catkin_pkg() -> None:
    package = parse_package(REPO / 'package.xml')
    package.validate()
    assert package.name == 'vlm_seg_ros'
    assert package.get_build_type() == 'ament_cmake'
    assert 'rosidl_interface_packages' in [group.name for group in package.member_of_groups]


def test_package_xml_declares_every_runtime_import() -> None:
    package = parse_package(REPO / 'package.xml')
    runtime = {dep.name for dep in package.exec_depends + package.build_export_depends}
    imported = imported_top_level_modules(REPO / 'vlm_seg_ros')
    unknown = imported - ROSDEP_KEYS.keys()
    assert not unknown, f'add the rosdep keys of {sorted(unknown)} to ROSDEP_KEYS and package.xml'
    missing = {ROSDEP_KEYS[module] for module in imported} - runtime
    assert not missing, f'package.xml lacks <exec_depend> or <depend> for {sorted(missing)}'


def test_package_xml_declares_the_launch_file_imports() -> None:
    package = parse_package(REPO / 'package.xml')
    runtime = {dep.name for dep in package.exec_depends + package.build_export_depends}
    assert imported_top_level_modules(REPO / 'launch') <= runtime


def test_installed_metadata_and_executables_come_from_setup_py() -> None:
    from ament_index_python.packages import get_package_prefix

    package = parse_package(REPO / 'package.xml')
    assert metadata.version('vlm_seg_ros') == package.version
    scripts = {ep.name for ep in metadata.entry_points(group='console_scripts')
               if ep.module.startswith('vlm_seg_ros.')}
    lib = Path(get_package_prefix('vlm_seg_ros')) / 'lib' / 'vlm_seg_ros'
    assert scripts == {p.name for p in lib.iterdir()} == {
        'perception_node', 'download-models', 'kitti-to-bag', 'process-bag'}
    assert all(os.access(p, os.X_OK) for p in lib.iterdir())


@pytest.mark.parametrize('path', ['launch', 'config', 'resource', 'msg', 'srv'])
def test_every_shipped_folder_is_installed(path: str) -> None:
    from ament_index_python.packages import get_package_share_directory

    share = Path(get_package_share_directory('vlm_seg_ros'))
    if path in ('msg', 'srv'):
        installed = {p.name for p in (share / path).glob(f'*.{path}')}
    else:
        installed = {p.name for p in (share / path).iterdir()}
    assert {p.name for p in (REPO / path).iterdir()} <= installed


def test_pip_only_keys_have_a_rosdep_rule() -> None:
    import yaml

    package = parse_package(REPO / 'package.xml')
    pip_keys = {dep.name for dep in package.exec_depends if dep.name.endswith('-pip')}
    rules = yaml.safe_load((REPO / 'rosdep.yaml').read_text())
    assert pip_keys and pip_keys <= rules.keys()
    requirements = (REPO / 'requirements.txt').read_text()
    for key in pip_keys:
        for platform in ('debian', 'ubuntu'):
            for name in rules[key][platform]['pip']['packages']:
                assert f'\n{name}==' in requirements, name


def test_the_source_tree_finds_the_built_parts_in_the_install(python_exe: str) -> None:
    # `python -m vlm_seg_ros.tools...` from the repository root imports the source tree, which
    # has neither the generated messages nor the compiled kernels: the installed ones are used
    # (README runs evaluation, kitti-to-bag and process-bag that way).
    import subprocess

    script = ('import vlm_seg_ros, vlm_seg_ros.core.native as n, vlm_seg_ros.msg as m; '
              'print(vlm_seg_ros.__file__); print(n._geometry.__file__); print(m.__file__)')
    result = subprocess.run([python_exe, '-c', script], cwd=REPO, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    package, compiled, messages = result.stdout.split()
    assert Path(package).parent == REPO / 'vlm_seg_ros'  # the source tree was imported
    for built in (compiled, messages):
        assert not Path(built).is_relative_to(REPO / 'vlm_seg_ros'), built
    assert Path(compiled).name.startswith('_geometry')
