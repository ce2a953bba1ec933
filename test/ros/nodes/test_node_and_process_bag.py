"""One frame runner: a bag gives the same graphs through process-bag and the live node.

Frame by frame (issue 18): ids, boxes, image boxes, sources, relations and labels. The bag is
played to the installed node from its own process, slowly enough that the node skips no frame
and its model workers finish each frame's work before the next frame (process-bag runs them
inline), with a camera margin that covers the transport of a megabyte image. Labels come from
a deterministic describer: a tiny random SmolVLM2 checkpoint, loaded by both through the real
transformers path and decoded greedily, so the same crop gets the same label in both.
"""

from __future__ import annotations

from pathlib import Path
import re

from ament_index_python.packages import get_package_prefix
import numpy as np

from vlm_seg_ros.datasets.demo_bag import write_demo_bag
from vlm_seg_ros.datasets.demo_scene import demo_scene
from vlm_seg_ros.msg import SceneGraph
from vlm_seg_ros.ros.bags import BagReader, to_ros
from vlm_seg_ros.tools.process_bag import main as process_bag

PLAYER = Path(__file__).resolve().parents[2] / 'resource' / 'bag_player.py'
NODE = str(Path(get_package_prefix('vlm_seg_ros')) / 'lib' / 'vlm_seg_ros' / 'perception_node')
FRAMES = 8
MARGIN = 1.0  # seconds a scan may wait for its image (0.05 by default): 10x slowed gaps


def summary(graph: SceneGraph) -> tuple:
    """Return what a graph says, rounded to what both paths must agree on."""
    objects = sorted((o.id, o.label, o.source, o.num_points,
                      tuple(np.round([o.box_center.position.x, o.box_center.position.y,
                                      o.box_center.position.z, o.box_size.x, o.box_size.y,
                                      o.box_size.z], 4)),
                      (o.image_box.x_offset, o.image_box.y_offset, o.image_box.width,
                       o.image_box.height)) for o in graph.objects)
    relations = sorted((r.subject_id, r.predicate, r.object_id) for r in graph.relations)
    stamp = graph.header.stamp.sec * 10**9 + graph.header.stamp.nanosec
    return stamp, graph.header.frame_id, graph.image_header.frame_id, objects, relations


def test_a_bag_gives_the_same_graphs_through_process_bag_and_the_live_node(
        ros, spawn, python_exe: str, tmp_path: Path, vlm_dir: Path) -> None:
    # One parameters file for both: the tiny describer, no segmenter, the bag's extrinsic as
    # the parameter (no tf2_ros here) and no stamp gate (the bag's stamps are from 2023).
    pose = demo_scene().lidar_to_camera
    params = tmp_path / 'params.yaml'
    params.write_text(
        '/**:\n  ros__parameters:\n'
        f'    models:\n      segmenter: ""\n      describer: "{vlm_dir}"\n'
        # Names only (no captions, no scene description): the least model work per frame, so
        # the node's label worker is idle again before the next frame, as process-bag's is.
        '    labels:\n      captions: false\n      scene_period: 0.0\n'
        f'    sync:\n      max_stamp_age: 0.0\n      max_stamp_lead: 0.0\n'
        f'      camera_margin: {MARGIN}\n      camera_timeout: 5.0\n'  # a frame a second
        f'    lidar_to_camera: {[*map(float, pose.translation), *map(float, pose.quaternion)]}'
        '\n')
    recording, annotated = tmp_path / 'recording', tmp_path / 'annotated'
    write_demo_bag(recording, FRAMES)
    assert process_bag([str(recording), str(annotated), '--quiet',
                        '--params-file', str(params)]) == 0
    with BagReader(annotated) as bag:
        offline = [summary(to_ros(m)) for m in bag.messages(['/perception/scene_graph'])]
    assert len(offline) == FRAMES and offline[-1][3], offline
    labels = {o[1] for frame in offline for o in frame[3]}
    assert labels - {''}, labels  # the describer named objects: the labels are compared

    node = spawn([NODE, '--ros-args', '-r', '__ns:=/same', '--params-file', str(params)])
    graphs: list[SceneGraph] = []
    ros.node.create_subscription(SceneGraph, '/same/perception/scene_graph', graphs.append, 50)
    assert ros.spin_until(lambda: ros.node.count_subscribers('/same/points') > 0,
                          timeout=30), node.output()
    # process-bag loaded the describer before its first frame; the node loads it beside its
    # frames, so the bag starts once it is loaded.
    assert ros.spin_until(lambda: 'describer: loaded' in node.output(), timeout=60), \
        node.output()
    player = spawn([python_exe, str(PLAYER), str(recording), '/same', '--slowdown', '10'])
    assert ros.spin_until(lambda: player.proc.poll() is not None, timeout=120), player.output()
    ros.spin_until(lambda: len(graphs) >= FRAMES, timeout=10)
    assert re.search(rf'played {3 * FRAMES} messages', player.output()), player.output()
    live = [summary(g) for g in graphs]
    assert len(live) == FRAMES, (len(live), node.output())
    for frame, (a, b) in enumerate(zip(offline, live, strict=True)):
        assert a == b, (frame, a, b)
