"""Shared test fixtures: an isolated ROS domain, a spinning test node and child processes.

The tests talk to the *installed* package (``source ./activate`` after ``scripts/setup``, or
``scripts/test``), over real rclpy and Fast DDS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import importlib.util
import os
from pathlib import Path
import random
import signal
import subprocess
import sys
import time
from types import ModuleType

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase
import pytest

# Hypothesis profiles, chosen with HYPOTHESIS_PROFILE (default 'ci'; README, Developer guide):
# - 'ci': derandomized, so every machine runs the same examples on the same commit and CI gives
#   the same answer every time. Chosen over a fixed seed plus an example database kept in the
#   repository: that database is rewritten by every run that finds something, and its entries
#   are keyed by the test's source, so it goes stale silently; derandomize needs no file.
#   Counterexamples found while exploring become @example()s in the test, where they are
#   read and reviewed.
# - 'explore': random seeds and 10x the examples, failures saved in .hypothesis/ (ignored by
#   git) and replayed first next time. The tests scale their own budgets by the profile's
#   max_examples (``settings.default.max_examples``), so both profiles reach every test.
settings.register_profile(
    'ci', derandomize=True, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    'explore', max_examples=1000, deadline=None, print_blob=True,
    database=DirectoryBasedExampleDatabase(str(Path(__file__).parent.parent / '.hypothesis')),
    suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))


def pytest_configure(config: pytest.Config) -> None:
    """Isolate the tests' DDS traffic and check that the package is built."""
    # A random domain keeps concurrent test runs (and any robot on the network) apart;
    # LOCALHOST keeps discovery on this machine. Child processes inherit both.
    # 1-101 keeps DDS ports below Linux's ephemeral range.
    os.environ['ROS_DOMAIN_ID'] = str(random.SystemRandom().randint(1, 101))
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    try:
        import vlm_seg_ros.msg  # noqa: F401
    except ImportError as exc:
        msg = (f'vlm_seg_ros is not built or not on the path ({exc}); '
               'run scripts/test, or scripts/setup and then `source ./activate`')
        raise pytest.UsageError(msg) from exc
    # Camera images and LiDAR scans are megabytes: like every process of a real graph (see
    # README, Troubleshooting), the tests and the nodes they start use the shipped Fast DDS
    # profile; without it best-effort messages of that size are lost between processes.
    from ament_index_python.packages import get_package_share_directory

    os.environ.setdefault('FASTDDS_DEFAULT_PROFILES_FILE', str(
        Path(get_package_share_directory('vlm_seg_ros')) / 'resource'
        / 'fastdds_large_messages.xml'))


class RosHarness:
    """A node of the test process, spun on demand by ``spin_until``."""

    def __init__(self, node: object, executor: object) -> None:
        self.node = node
        self.executor = executor

    def spin_until(self, done: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Spin until ``done()`` is true or ``timeout`` seconds pass; return ``done()``."""
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)  # type: ignore[attr-defined]
        return done()


@pytest.fixture
def ros(request: pytest.FixtureRequest) -> Iterator[RosHarness]:
    """Yield a harness around a fresh rclpy context and node, shut down afterwards."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node(f'test_{request.node.name[:40]}'.replace('[', '_').replace(']', ''),
                             context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        yield RosHarness(node, executor)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)


class ChildProcess:
    """A process started by a test; its output goes to a file for failure messages."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.log_path = log_path
        self._log = log_path.open('wb')
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def output(self) -> str:
        """Return everything the process printed so far."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors='replace')

    def stop(self) -> int:
        """Interrupt the process like Ctrl-C (kill it if it hangs); return its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., ChildProcess]]:
    """Yield ``spawn(args, env=None)``, starting child processes that are stopped afterwards."""
    children: list[ChildProcess] = []

    def start(args: list[str], env: dict[str, str] | None = None) -> ChildProcess:
        log = tmp_path / f'child{len(children)}.log'
        child = ChildProcess(args, log, {**os.environ, **(env or {})})
        children.append(child)
        return child

    yield start
    for child in children:
        child.stop()


@pytest.fixture
def python_exe() -> str:
    """Return the interpreter running the tests (the venv's), for child scripts."""
    return sys.executable


# Real sensor data shared by the team (not part of the repository): ../shared/data next to
# the checkout, or the folder named by VLM_SEG_ROS_DATA.
SHARED_DATA = Path(os.environ.get('VLM_SEG_ROS_DATA',
                                  Path(__file__).resolve().parents[2] / 'shared' / 'data'))


def shared_dataset(name: str, marker: str, what: str) -> Path:
    """Return SHARED_DATA/name if it holds ``marker``; else skip, saying how to point at it."""
    path = SHARED_DATA / name
    if not (path / marker).exists():
        pytest.skip(f'{what} not found at {path}; set VLM_SEG_ROS_DATA to the folder that '
                    f'holds {name}')
    return path


@pytest.fixture(scope='session')
def kitti_dir() -> Path:
    """Return the folder of the three KITTI object frames; skip if it is absent."""
    return shared_dataset('kitti_object_training_3frames', 'calib', 'KITTI sample frames')


@pytest.fixture(scope='session')
def semantickitti_dir() -> Path:
    """Return the folder of the labelled SemanticKITTI scan; skip if it is absent."""
    return shared_dataset('semantickitti_scan_spvnas_sample', '000000.label',
                          'SemanticKITTI sample scan')


def import_beside(name: str, folder: str = 'models') -> ModuleType:
    """Import test/<folder>/<name>.py (pytest runs with --import-mode=importlib)."""
    path = Path(__file__).parent / folder / f'{name}.py'
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Tiny random checkpoints (SAM 2, SAM 3, SmolVLM2) built from the real configs, once per session.
@pytest.fixture(scope='session')
def sam2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a tiny random SAM 2 checkpoint directory."""
    return import_beside('tiny_segmenters').tiny_sam2(tmp_path_factory.mktemp('sam2'))


@pytest.fixture(scope='session')
def sam3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a tiny random SAM 3 checkpoint directory."""
    return import_beside('tiny_segmenters').tiny_sam3(tmp_path_factory.mktemp('sam3'))


@pytest.fixture(scope='session')
def vlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a tiny random SmolVLM2 checkpoint directory."""
    return import_beside('tiny_models').tiny_smolvlm(tmp_path_factory.mktemp('smolvlm'))
