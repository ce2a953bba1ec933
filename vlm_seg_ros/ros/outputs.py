"""A ``SceneFrame`` -> the node's output messages (scene graph, JSON, clouds, markers, images).

Message building only: no publishing, no node. Every 3D output is in the frame of the
``header`` given (the node's target frame); the images carry the camera image's header.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
import json
from typing import Any

from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
import numpy as np
import numpy.typing as npt
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import ColorRGBA, Header, String
from visualization_msgs.msg import Marker, MarkerArray

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.render import DRAWN_PREDICATES, colour_of, colours_of
from vlm_seg_ros.core.scene import ObjectSource, SceneFrame
from vlm_seg_ros.core.stamps import seconds_to_ns
from vlm_seg_ros.msg import SceneGraph, SceneObject, SceneRelation
from vlm_seg_ros.ros.conversions import (
    array_to_image,
    array_to_pointcloud2,
    pack_rgb,
    region_of_interest,
    time_from_ns,
    time_to_ns,
    xyz_to_pointcloud2,
)
from vlm_seg_ros.runtime.config import OutputConfig

# Fields of ~/objects/cloud, in this order (RViz colours by `rgb`, or by `instance`).
OBJECT_CLOUD_DTYPE = np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('rgb', '<f4'),
                               ('instance', '<u4'), ('label', '<u2')])


def _point(values: Iterable[float]) -> Point:
    x, y, z = (float(v) for v in values)
    return Point(x=x, y=y, z=z)


def _pose(box: OrientedBox) -> Pose:
    qx, qy, qz, qw = (float(v) for v in box.quaternion())
    return Pose(position=_point(box.center), orientation=Quaternion(x=qx, y=qy, z=qz, w=qw))


def _vector(values: Iterable[float]) -> Vector3:
    x, y, z = (float(v) for v in values)
    return Vector3(x=x, y=y, z=z)


# ObjectView.source -> SceneObject.source.
SOURCES = {ObjectSource.LIDAR: SceneObject.SOURCE_LIDAR,
           ObjectSource.BOTH: SceneObject.SOURCE_BOTH}


def scene_graph(frame: SceneFrame, header: Header, image_headers: Sequence[Header], *,
                object_points: bool) -> SceneGraph:
    """Build the SceneGraph of a frame (objects by track id, relations, description).

    ``image_headers``: each camera image's header, in the frame's camera order.
    """
    graph = SceneGraph(header=header,
                       image_header=image_headers[0] if image_headers else Header(),
                       image_headers=list(image_headers),
                       cameras=[images.name for images in frame.images],
                       description=frame.description,
                       description_stamp=time_from_ns(frame.description_stamp)
                       if frame.description else Time())
    for view in frame.objects:
        track, segment = view.track, view.segment
        centroid = (frame.points[view.indices].mean(axis=0) if view.indices.size
                    else track.box.center)
        message = SceneObject(
            id=track.id, label=track.label, label_confidence=float(track.label_confidence),
            caption=view.caption,
            box_center=_pose(track.box), box_size=_vector(track.box.size),
            centroid=_point(centroid),
            label_value=view.label_value,
            num_points=len(view.indices),
            first_seen=time_from_ns(track.first_seen), last_seen=time_from_ns(track.last_seen),
            observations=track.observations, source=SOURCES[view.source])
        if view.image_box is not None:
            message.image_box = region_of_interest(view.image_box)
            message.camera = view.camera or ''
        if object_points and segment is not None:
            message.points = xyz_to_pointcloud2(frame.points[view.indices], header)
        graph.objects.append(message)
    graph.relations = [
        SceneRelation(subject_id=r.subject, predicate=r.predicate, object_id=r.object,
                      confidence=float(r.confidence),
                      evidence_count=frame.relation_evidence.get(
                          (r.subject, r.predicate, r.object), 1))
        for r in frame.geometry.relations]
    return graph


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)):
        return value
    names = _FIELDS.get(type(value))
    if names is None and hasattr(value, 'get_fields_and_field_types'):
        names = _FIELDS[type(value)] = [
            name for name, kind in value.get_fields_and_field_types().items()
            if kind != 'sensor_msgs/PointCloud2']
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, (list, tuple)) or hasattr(value, 'tolist'):
        items = value.tolist() if hasattr(value, 'tolist') else value
        return [_plain(item) for item in items] if isinstance(items, list) else items
    return value


# Per message type, its field names without the point clouds (looked up once per type: the
# JSON of a graph visits thousands of messages).
_FIELDS: dict[type, list[str]] = {}


def scene_graph_json(graph: SceneGraph) -> str:
    """Serialise a SceneGraph as JSON: its fields by name, without the per-object clouds."""
    return json.dumps(_plain(graph), separators=(',', ':'))


def object_cloud(frame: SceneFrame, header: Header) -> PointCloud2:
    """All points of this frame's tracked objects, with ``rgb``, ``instance`` and ``label``.

    ``instance`` is the track id; ``label`` the object's value in ``~/labels`` (0 when it is
    not in the image); ``rgb`` its colour (the same as in the overlay and markers).
    """
    parts = [view for view in frame.objects if view.indices.size]
    count = sum(view.indices.size for view in parts)
    cloud = np.zeros(count, dtype=OBJECT_CLOUD_DTYPE)
    start = 0
    for view in parts:
        rows = slice(start, start + view.indices.size)
        xyz = frame.points[view.indices]
        cloud['x'][rows], cloud['y'][rows], cloud['z'][rows] = xyz.T
        cloud['instance'][rows] = view.track.id
        cloud['label'][rows] = view.label_value
        start += view.indices.size
    cloud['rgb'] = pack_rgb(colours_of(cloud['instance']))
    return array_to_pointcloud2(cloud, header, is_dense=True)


def obstacle_cloud(frame: SceneFrame, header: Header) -> PointCloud2:
    """Non-ground points inside the range and height crop (for a costmap obstacle layer)."""
    obstacles = frame.points[frame.geometry.segmentation.obstacles]
    return xyz_to_pointcloud2(obstacles, header)


def label_image(labels: npt.NDArray[np.uint16], header: Header) -> Image:
    """Return the instance label image as a ``mono16`` Image."""
    return array_to_image(labels, encoding='mono16', header=header)


def overlay_image(overlay: npt.NDArray[np.uint8], header: Header) -> Image:
    """Return the overlay as an ``rgb8`` Image."""
    return array_to_image(overlay, encoding='rgb8', header=header)


def _colour(rgb: tuple[float, float, float], alpha: float) -> ColorRGBA:
    return ColorRGBA(r=float(rgb[0]), g=float(rgb[1]), b=float(rgb[2]), a=float(alpha))


class MarkerBook:
    """Builds ``~/markers`` and remembers what it drew, so that stale markers get deleted."""

    NAMESPACES = ('boxes', 'labels', 'relations')

    def __init__(self, lifetime: float = 0.0) -> None:
        """Start with nothing drawn; markers last ``lifetime`` s unless refreshed (0: forever)."""
        self._drawn: dict[tuple[str, int], str] = {}
        self._restart = False
        nanoseconds = round(lifetime * 1e9)
        self._lifetime = Duration(sec=nanoseconds // 10**9, nanosec=nanoseconds % 10**9)

    def markers(self, frame: SceneFrame, header: Header) -> MarkerArray:
        """Boxes and id/label texts per object, relation lines; DELETE for what went away.

        After :meth:`pause`, the array starts with a DELETEALL (what was drawn before the pause
        is no longer known).
        """
        markers: list[Marker] = []
        if self._restart:
            markers.append(Marker(header=header, action=Marker.DELETEALL))
            self._restart = False
        lifetime = self._lifetime
        for view in frame.objects:
            track = view.track
            red, green, blue = colour_of(track.id)
            rgb = (red / 255, green / 255, blue / 255)
            box = track.box
            markers.append(Marker(
                header=header, ns='boxes', id=track.id, type=Marker.CUBE, action=Marker.ADD,
                pose=_pose(box), scale=_vector(np.maximum(box.size, 0.02)),
                color=_colour(rgb, 0.35), lifetime=lifetime))
            text_pose = _pose(box)
            text_pose.position.z += float(box.size[2]) / 2 + 0.4
            text_pose.orientation = Quaternion()
            markers.append(Marker(
                header=header, ns='labels', id=track.id, type=Marker.TEXT_VIEW_FACING,
                action=Marker.ADD, pose=text_pose, scale=Vector3(z=0.5),
                color=_colour(rgb, 1.0), text=f'#{track.id} {track.label}'.strip(),
                lifetime=lifetime))
        centres = {view.track.id: view.track.box.center for view in frame.objects}
        lines = Marker(header=header, ns='relations', id=0, type=Marker.LINE_LIST,
                       action=Marker.ADD, scale=Vector3(x=0.05), lifetime=lifetime,
                       pose=Pose(orientation=Quaternion(w=1.0)))
        for relation in frame.geometry.relations:
            if relation.predicate not in DRAWN_PREDICATES or relation.subject > relation.object:
                continue
            colour = _colour(DRAWN_PREDICATES[relation.predicate], 0.9)
            for end in (relation.subject, relation.object):
                lines.points.append(_point(centres[end]))
                lines.colors.append(colour)
        if lines.points:
            markers.append(lines)
        drawn = {(m.ns, m.id): header.frame_id for m in markers if m.action == Marker.ADD}
        for (ns, marker_id), frame_id in self._drawn.items():
            if (ns, marker_id) not in drawn:
                markers.append(Marker(header=Header(stamp=header.stamp, frame_id=frame_id),
                                      ns=ns, id=marker_id, action=Marker.DELETE))
        self._drawn = drawn
        return MarkerArray(markers=markers)

    def pause(self) -> None:
        """Stop following what was drawn (nobody listens); the next markers start afresh."""
        if self._drawn:
            self._drawn = {}
            self._restart = True

    def clear(self, header: Header) -> MarkerArray:
        """Delete everything this book drew (e.g. when the node deactivates)."""
        self._drawn = {}
        return MarkerArray(markers=[Marker(header=header, action=Marker.DELETEALL)])


def image_topics(camera: str) -> tuple[str, str]:
    """Return a camera's label-image and overlay topics relative to ``~/``.

    ``labels`` and ``overlay`` for the one unnamed camera, ``<camera>/labels`` and
    ``<camera>/overlay`` for a named one.
    """
    prefix = f'{camera}/' if camera else ''
    return f'{prefix}labels', f'{prefix}overlay'


class OutputBuilder:
    """Every output message of a frame, by the node's topic name relative to ``~/``."""

    def __init__(self, config: OutputConfig) -> None:
        """Build what ``config`` enables."""
        self.config = config
        self._markers = MarkerBook(config.marker_lifetime)
        self._last_description: int | None = None

    def build(self, frame: SceneFrame, header: Header, image_headers: Sequence[Header], *,
              wanted: Callable[[str], bool]) -> list[tuple[str, Any]]:
        """Return ``(name, message)`` of every output ``wanted(name)`` asks for.

        Only wanted outputs are built: building the scene graph and the markers of ~100
        objects takes ~16 ms of Python on one core. Each camera's images
        (:func:`image_topics`) for the cameras the frame has; the description (always) at
        most every ``description_period`` seconds of stamps (and when time goes back). While
        nobody wants the markers, their book forgets what it drew and starts again with a
        DELETEALL.
        """
        config = self.config
        result: list[tuple[str, Any]] = []
        graph_wanted = wanted('scene_graph')
        json_wanted = config.scene_graph_json and wanted('scene_graph/json')
        if graph_wanted or json_wanted:
            graph = scene_graph(frame, header, image_headers,
                                object_points=config.object_points)
            if graph_wanted:
                result.append(('scene_graph', graph))
            if json_wanted:
                result.append(('scene_graph/json', String(data=scene_graph_json(graph))))
        if config.object_cloud and wanted('objects/cloud'):
            result.append(('objects/cloud', object_cloud(frame, header)))
        if config.obstacles and wanted('obstacles'):
            result.append(('obstacles', obstacle_cloud(frame, header)))
        if config.markers and wanted('markers'):
            result.append(('markers', self._markers.markers(frame, header)))
        else:
            self._markers.pause()
        for images, image_header in zip(frame.images, image_headers, strict=True):
            labels, overlay = image_topics(images.name)
            if config.labels and wanted(labels):
                result.append((labels, label_image(images.labels, image_header)))
            if config.overlay and images.overlay is not None and wanted(overlay):
                result.append((overlay, overlay_image(images.overlay, image_header)))
        stamp, last = time_to_ns(header.stamp), self._last_description
        if last is None or stamp < last \
                or stamp - last >= seconds_to_ns(config.description_period):
            self._last_description = stamp
            result.append(('description', String(data=frame.description)))
        return result

    def clear_markers(self, header: Header) -> MarkerArray:
        """Delete every marker drawn so far."""
        return self._markers.clear(header)
