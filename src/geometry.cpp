// Compiled kernels of the per-scan geometry (module vlm_seg_ros.core._geometry).
//
// Each function is one pass (or a few) over a scan that numpy can only do in many: np.unique,
// 13 searchsorted lookups and scipy's connected components for clustering took ~12 ms per
// 120k-point scan on one core, a Python loop over OpenCV for the boxes ~6 ms. The Python side
// (vlm_seg_ros.core.segmentation, .ground) keeps the rules and the checks; these are the loops.
// Built by CMake with pybind11 (see CMakeLists.txt); tests compare every function against a
// plain numpy/scipy/OpenCV reference (test/core/test_native.py).

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace {

using Points = py::array_t<float, py::array::c_style | py::array::forcecast>;
using Indices = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

// Voxel keys pack three grid coordinates of 21 bits each. Every coordinate is at least 1 and
// at most kMaxCoordinate - 1, so that a neighbour's key is the key plus a packed offset.
constexpr int kBits = 21;
constexpr int64_t kMaxCoordinate = (int64_t{1} << kBits) - 1;

int64_t pack(int64_t x, int64_t y, int64_t z) { return (x << (2 * kBits)) | (y << kBits) | z; }

void check_points(const Points &points, const char *name) {
  if (points.ndim() != 2 || points.shape(1) != 3) {
    throw std::invalid_argument(std::string(name) + " must be an (N, 3) array");
  }
}

// Open addressing from voxel key to voxel number (numbered in order of insertion).
class VoxelTable {
 public:
  explicit VoxelTable(size_t expected) {
    size_t capacity = 16;
    while (capacity < 2 * expected) capacity <<= 1;
    slots_.assign(capacity, Slot{kEmpty, 0});
    mask_ = capacity - 1;
  }

  // The voxel's number; a new one (the next) when the key is new.
  int64_t insert(int64_t key) {
    for (size_t at = hash(key);; at = (at + 1) & mask_) {
      Slot &slot = slots_[at];
      if (slot.key == key) return slot.id;
      if (slot.key == kEmpty) {
        slot = Slot{key, static_cast<int64_t>(keys_.size())};
        keys_.push_back(key);
        return slot.id;
      }
    }
  }

  // The voxel's number, or -1.
  int64_t find(int64_t key) const {
    for (size_t at = hash(key);; at = (at + 1) & mask_) {
      const Slot &slot = slots_[at];
      if (slot.key == key) return slot.id;
      if (slot.key == kEmpty) return -1;
    }
  }

  const std::vector<int64_t> &keys() const { return keys_; }

 private:
  static constexpr int64_t kEmpty = -1;
  struct Slot {
    int64_t key;
    int64_t id;
  };

  size_t hash(int64_t key) const {  // MurmurHash3's 64-bit finaliser: every bit mixes
    auto k = static_cast<uint64_t>(key);
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return static_cast<size_t>(k) & mask_;
  }

  std::vector<Slot> slots_;
  std::vector<int64_t> keys_;
  size_t mask_ = 0;
};

// floor() for values known to fit an int64, without the libm call (x86-64's baseline has no
// rounding instruction): a third of the clustering time when called per coordinate.
int64_t floor_to_int(double value) {
  const auto truncated = static_cast<int64_t>(value);
  return truncated - (value < static_cast<double>(truncated));
}

// Number every point's voxel (of size `size`) in order of first appearance.
// Returns the table (keys per voxel) and fills `voxel_of` (one entry per point).
VoxelTable voxelize(const float *xyz, int64_t count, const std::array<double, 3> &size,
                    std::vector<int64_t> &voxel_of) {
  for (double edge : size) {
    if (!(edge > 0) || !std::isfinite(edge)) {
      throw std::invalid_argument("voxel sizes must be finite and positive");
    }
  }
  std::array<float, 3> low{}, high{};
  for (int axis = 0; axis < 3 && count; ++axis) low[axis] = high[axis] = xyz[axis];
  for (int64_t i = 0; i < count; ++i) {
    for (int axis = 0; axis < 3; ++axis) {
      const float value = xyz[3 * i + axis];
      if (!std::isfinite(value)) throw std::invalid_argument("voxelize needs finite points");
      low[axis] = std::min(low[axis], value);
      high[axis] = std::max(high[axis], value);
    }
  }
  std::array<int64_t, 3> origin{};  // the grid coordinate that becomes 1
  for (int axis = 0; axis < 3 && count; ++axis) {
    const double span = (static_cast<double>(high[axis]) - low[axis]) / size[axis];
    if (span + 4 >= static_cast<double>(kMaxCoordinate)) {
      throw std::invalid_argument("the points span more than 2^21 - 4 voxels along an axis");
    }
    const double farthest = std::max(std::fabs(low[axis]), std::fabs(high[axis])) / size[axis];
    if (!(farthest < 1e15)) {  // grid coordinates must fit an int64 with room to spare
      throw std::invalid_argument("the points lie more than 1e15 voxels from the origin");
    }
    origin[axis] = floor_to_int(low[axis] / size[axis]) - 1;
  }
  VoxelTable table(static_cast<size_t>(count));
  voxel_of.resize(count);
  int64_t last_key = -1, last_id = -1;  // a scan's consecutive points often share a voxel
  for (int64_t i = 0; i < count; ++i) {
    const float *p = &xyz[3 * i];
    const int64_t key = pack(floor_to_int(p[0] / size[0]) - origin[0],
                             floor_to_int(p[1] / size[1]) - origin[1],
                             floor_to_int(p[2] / size[2]) - origin[2]);
    if (key != last_key) last_key = key, last_id = table.insert(key);
    voxel_of[i] = last_id;
  }
  return table;
}

py::array_t<int64_t> to_array(std::vector<int64_t> &&values) {
  auto *owned = new std::vector<int64_t>(std::move(values));
  py::capsule free_when_done(owned, [](void *p) { delete static_cast<std::vector<int64_t> *>(p); });
  return py::array_t<int64_t>(static_cast<py::ssize_t>(owned->size()), owned->data(),
                              free_when_done);
}

// Mean point of every occupied voxel and each point's voxel number.
py::tuple voxel_means(const Points &points, std::array<double, 3> size) {
  check_points(points, "points");
  const int64_t count = points.shape(0);
  const float *xyz = points.data();
  std::vector<int64_t> voxel_of;
  std::vector<double> sums;
  std::vector<int64_t> counts;
  {
    py::gil_scoped_release release;
    const VoxelTable table = voxelize(xyz, count, size, voxel_of);
    sums.assign(3 * table.keys().size(), 0.0);
    counts.assign(table.keys().size(), 0);
    for (int64_t i = 0; i < count; ++i) {
      const int64_t v = voxel_of[i];
      ++counts[v];
      for (int axis = 0; axis < 3; ++axis) sums[3 * v + axis] += xyz[3 * i + axis];
    }
  }
  const auto voxels = static_cast<py::ssize_t>(counts.size());
  py::array_t<float> means({voxels, py::ssize_t{3}});
  float *out = means.mutable_data();
  for (py::ssize_t v = 0; v < voxels; ++v) {
    for (int axis = 0; axis < 3; ++axis) {
      out[3 * v + axis] = static_cast<float>(sums[3 * v + axis] / counts[v]);
    }
  }
  return py::make_tuple(means, to_array(std::move(voxel_of)));
}

int64_t find_root(std::vector<int64_t> &parent, int64_t v) {
  while (parent[v] != v) {
    parent[v] = parent[parent[v]];  // path halving
    v = parent[v];
  }
  return v;
}

// Connected components of touching voxels (faces, edges and corners), one label per point,
// numbered 0..K-1 in order of each component's first point.
std::vector<int64_t> cluster_labels(const float *xyz, int64_t count,
                                    const std::array<double, 3> &size) {
  std::vector<int64_t> voxel_of;
  const VoxelTable table = voxelize(xyz, count, size, voxel_of);
  const std::vector<int64_t> &keys = table.keys();
  std::vector<int64_t> parent(keys.size());
  for (size_t v = 0; v < keys.size(); ++v) parent[v] = static_cast<int64_t>(v);
  // The 13 of the 26 neighbours that come after a voxel in raster order: each touching pair
  // is looked up once.
  std::vector<int64_t> offsets;
  for (int dx = -1; dx <= 1; ++dx) {
    for (int dy = -1; dy <= 1; ++dy) {
      for (int dz = -1; dz <= 1; ++dz) {
        if (std::make_tuple(dx, dy, dz) > std::make_tuple(0, 0, 0)) {
          offsets.push_back(dx * (int64_t{1} << (2 * kBits)) + dy * (int64_t{1} << kBits) + dz);
        }
      }
    }
  }
  for (size_t v = 0; v < keys.size(); ++v) {
    for (int64_t offset : offsets) {
      const int64_t other = table.find(keys[v] + offset);
      if (other < 0) continue;
      int64_t a = find_root(parent, static_cast<int64_t>(v));
      int64_t b = find_root(parent, other);
      if (a != b) parent[std::max(a, b)] = std::min(a, b);
    }
  }
  std::vector<int64_t> label_of_root(keys.size(), -1);
  int64_t next = 0;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t root = find_root(parent, voxel_of[i]);
    if (label_of_root[root] < 0) label_of_root[root] = next++;
    voxel_of[i] = label_of_root[root];
  }
  return voxel_of;
}

py::array_t<int64_t> voxel_clusters(const Points &points, std::array<double, 3> size) {
  check_points(points, "points");
  std::vector<int64_t> labels;
  {
    py::gil_scoped_release release;
    labels = cluster_labels(points.data(), points.shape(0), size);
  }
  return to_array(std::move(labels));
}

// Stable counting sort of labels 0..count-1: the order and where each label's run starts.
py::tuple group(const Indices &labels, int64_t count) {
  if (labels.ndim() != 1 || count < 0) {
    throw std::invalid_argument("group needs (N,) labels and a count >= 0");
  }
  const int64_t n = labels.shape(0);
  const int64_t *label = labels.data();
  std::vector<int64_t> starts(count + 1, 0);
  for (int64_t i = 0; i < n; ++i) {
    if (label[i] < 0 || label[i] >= count) {
      throw std::invalid_argument("group: a label is outside 0..count-1");
    }
    ++starts[label[i] + 1];
  }
  for (int64_t k = 0; k < count; ++k) starts[k + 1] += starts[k];
  std::vector<int64_t> next(starts.begin(), starts.end() - 1);
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[next[label[i]]++] = i;
  return py::make_tuple(to_array(std::move(order)), to_array(std::move(starts)));
}

// Given the tunables of vlm_seg_ros.core.segmentation.split_supported (its docstring states
// the rule; constants SURFACE_* and SUPPORTED_* are passed in): the labels with what rests on
// a flat horizontal surface numbered from K on. Arithmetic follows the numpy version it
// replaced: heights in double, footprint cells of float32 coordinates divided in float32.
struct SupportRule {
  double min_area, tolerance, vertical_tolerance, thickness, cell, margin, share, max_footprint;
  int64_t min_points;
};

std::vector<int64_t> split_supported_labels(const float *xyz, const int64_t *labels, int64_t n,
                                            const SupportRule &rule) {
  std::vector<int64_t> result(labels, labels + n);
  if (n == 0) return result;
  int64_t groups = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] < 0) throw std::invalid_argument("split_supported: negative label");
    groups = std::max(groups, labels[i] + 1);
    for (int axis = 0; axis < 3; ++axis) {  // footprint cells must fit an int64 key
      if (!(std::fabs(xyz[3 * i + axis]) < 1e12f)) {
        throw std::invalid_argument("split_supported needs finite points within 1e12 m");
      }
    }
  }
  std::vector<int64_t> starts(groups + 1, 0), order(n);
  for (int64_t i = 0; i < n; ++i) ++starts[labels[i] + 1];
  for (int64_t k = 0; k < groups; ++k) starts[k + 1] += starts[k];
  {
    std::vector<int64_t> next(starts.begin(), starts.end() - 1);
    for (int64_t i = 0; i < n; ++i) order[next[labels[i]]++] = i;
  }
  const double cells_needed = rule.min_area / (rule.cell * rule.cell);
  const auto cell = static_cast<float>(rule.cell);
  constexpr int64_t kSpan = int64_t{1} << 31;
  auto cell_key = [&](int64_t i) {
    return static_cast<int64_t>(std::floor(xyz[3 * i] / cell)) * kSpan +
           static_cast<int64_t>(std::floor(xyz[3 * i + 1] / cell));
  };
  int64_t next_label = groups;
  std::vector<double> z, layer_z;
  std::vector<int64_t> histogram, surface, grown, above_keys, above_index;
  std::vector<float> above_points;
  for (int64_t label = 0; label < groups; ++label) {
    const int64_t begin = starts[label], end = starts[label + 1], count = end - begin;
    double lo[3], hi[3];
    for (int axis = 0; axis < 3; ++axis) {
      lo[axis] = std::numeric_limits<double>::infinity(), hi[axis] = -lo[axis];
      for (int64_t j = begin; j < end; ++j) {
        const double v = xyz[3 * order[j] + axis];
        lo[axis] = std::min(lo[axis], v), hi[axis] = std::max(hi[axis], v);
      }
    }
    // Cheap rejection: the bounding rectangle must hold the surface grown by a cell per side,
    // and the cluster must rise above a surface layer.
    if (count < 2 * rule.min_points ||
        (hi[0] - lo[0] + rule.cell) * (hi[1] - lo[1] + rule.cell) < rule.min_area ||
        !(hi[2] - lo[2] + rule.cell > 2 * rule.thickness + rule.margin)) {
      continue;
    }
    z.resize(count);
    histogram.assign(1, 0);
    for (int64_t j = 0; j < count; ++j) {
      z[j] = xyz[3 * order[begin + j] + 2];
      const auto bin = static_cast<size_t>(std::floor((z[j] - lo[2]) / rule.thickness));
      if (bin >= histogram.size()) histogram.resize(bin + 1, 0);
      ++histogram[bin];
    }
    int64_t best = -1;
    size_t densest = 0;
    for (size_t b = 0; b < histogram.size(); ++b) {  // two bins: a surface may straddle
      const int64_t window = histogram[b] + (b + 1 < histogram.size() ? histogram[b + 1] : 0);
      if (window > best) best = window, densest = b;
    }
    if (static_cast<double>(best) < cells_needed) continue;
    const double bottom = lo[2] + static_cast<double>(densest) * rule.thickness;
    layer_z.clear();
    surface.clear();
    for (int64_t j = 0; j < count; ++j) {
      if (z[j] >= bottom && z[j] < bottom + 2 * rule.thickness) {
        layer_z.push_back(z[j]);
        surface.push_back(cell_key(order[begin + j]));
      }
    }
    const size_t middle = layer_z.size() / 2;  // numpy's median: the mean of the middle two
    std::nth_element(layer_z.begin(), layer_z.begin() + middle, layer_z.end());
    double median = layer_z[middle];
    if (layer_z.size() % 2 == 0) {
      median = (*std::max_element(layer_z.begin(), layer_z.begin() + middle) + median) / 2;
    }
    above_index.clear();
    for (int64_t j = 0; j < count; ++j) {
      if (z[j] > median + rule.margin) above_index.push_back(order[begin + j]);
    }
    if (static_cast<int64_t>(above_index.size()) < rule.min_points) continue;
    std::sort(surface.begin(), surface.end());
    surface.erase(std::unique(surface.begin(), surface.end()), surface.end());
    if (static_cast<double>(surface.size()) < cells_needed) continue;
    grown.clear();
    for (int64_t key : surface) {
      for (int64_t dx = -1; dx <= 1; ++dx) {
        for (int64_t dy = -1; dy <= 1; ++dy) grown.push_back(key + dx * kSpan + dy);
      }
    }
    std::sort(grown.begin(), grown.end());
    grown.erase(std::unique(grown.begin(), grown.end()), grown.end());
    above_keys.clear();
    int64_t over = 0;
    for (int64_t i : above_index) {
      above_keys.push_back(cell_key(i));
      over += std::binary_search(grown.begin(), grown.end(), above_keys.back());
    }
    std::sort(above_keys.begin(), above_keys.end());
    const auto footprint = static_cast<double>(
        std::unique(above_keys.begin(), above_keys.end()) - above_keys.begin());
    if (static_cast<double>(over) / static_cast<double>(above_index.size()) < rule.share ||
        footprint > rule.max_footprint * static_cast<double>(surface.size())) {
      continue;
    }
    above_points.clear();
    for (int64_t i : above_index) above_points.insert(above_points.end(), &xyz[3 * i], &xyz[3 * i + 3]);
    const std::vector<int64_t> parts = cluster_labels(
        above_points.data(), static_cast<int64_t>(above_index.size()),
        {rule.tolerance, rule.tolerance, rule.vertical_tolerance});
    const int64_t num_parts = *std::max_element(parts.begin(), parts.end()) + 1;
    std::vector<int64_t> sizes(num_parts, 0), number(num_parts, -1);
    std::vector<double> top(num_parts, -std::numeric_limits<double>::infinity()),
        low(num_parts, std::numeric_limits<double>::infinity());
    for (size_t j = 0; j < parts.size(); ++j) {
      const double height = above_points[3 * j + 2];
      ++sizes[parts[j]];
      top[parts[j]] = std::max(top[parts[j]], height);
      low[parts[j]] = std::min(low[parts[j]], height);
    }
    // Fragments too small to be objects stay with the surface, and so do flat parts (another
    // face of the same object).
    for (int64_t k = 0; k < num_parts; ++k) {
      if (sizes[k] >= rule.min_points && top[k] - low[k] >= rule.margin) number[k] = next_label++;
    }
    for (size_t j = 0; j < parts.size(); ++j) {
      if (number[parts[j]] >= 0) result[above_index[j]] = number[parts[j]];
    }
  }
  return result;
}

py::array_t<int64_t> split_supported(const Points &points, const Indices &labels,
                                     const SupportRule &rule) {
  check_points(points, "points");
  if (labels.ndim() != 1 || labels.shape(0) != points.shape(0)) {
    throw std::invalid_argument("split_supported needs one label per point");
  }
  std::vector<int64_t> result;
  {
    py::gil_scoped_release release;
    result = split_supported_labels(points.data(), labels.data(), points.shape(0), rule);
  }
  return to_array(std::move(result));
}

struct Point2 {
  double x, y;
  bool operator<(const Point2 &o) const { return x < o.x || (x == o.x && y < o.y); }
  bool operator==(const Point2 &o) const { return x == o.x && y == o.y; }
};

double cross(const Point2 &o, const Point2 &a, const Point2 &b) {
  return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

// Convex hull, counter-clockwise, no collinear vertices (Andrew's monotone chain). Points
// strictly inside the octagon of the extremes along x, y, x+y and x-y are dropped first
// (Akl-Toussaint): they cannot be on the hull, and most of a cluster's points are inside.
std::vector<Point2> convex_hull(std::vector<Point2> &pts) {
  if (pts.size() > 8) {
    std::array<size_t, 8> extreme{};  // CCW: -y, x-y, +x, x+y, +y, y-x, -x, -x-y
    auto score = [](const Point2 &p, int k) {
      switch (k) {
        case 0: return -p.y;
        case 1: return p.x - p.y;
        case 2: return p.x;
        case 3: return p.x + p.y;
        case 4: return p.y;
        case 5: return p.y - p.x;
        case 6: return -p.x;
        default: return -p.x - p.y;
      }
    };
    for (size_t i = 1; i < pts.size(); ++i) {
      for (int k = 0; k < 8; ++k) {
        if (score(pts[i], k) > score(pts[extreme[k]], k)) extreme[k] = i;
      }
    }
    std::vector<Point2> octagon;
    for (size_t at : extreme) {
      if (octagon.empty() || !(octagon.back() == pts[at])) octagon.push_back(pts[at]);
    }
    while (octagon.size() > 1 && octagon.front() == octagon.back()) octagon.pop_back();
    if (octagon.size() >= 3) {
      std::vector<Point2> outside;
      for (const Point2 &p : pts) {
        bool inside = true;
        for (size_t k = 0; k < octagon.size() && inside; ++k) {
          inside = cross(octagon[k], octagon[(k + 1) % octagon.size()], p) > 0;
        }
        if (!inside) outside.push_back(p);
      }
      pts.swap(outside);
    }
  }
  std::sort(pts.begin(), pts.end());
  pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
  if (pts.size() < 3) return pts;
  std::vector<Point2> hull(2 * pts.size());
  size_t k = 0;
  for (const Point2 &p : pts) {  // lower chain
    while (k >= 2 && cross(hull[k - 2], hull[k - 1], p) <= 0) --k;
    hull[k++] = p;
  }
  for (size_t i = pts.size() - 1, lower = k + 1; i-- > 0;) {  // upper chain
    while (k >= lower && cross(hull[k - 2], hull[k - 1], pts[i]) <= 0) --k;
    hull[k++] = pts[i];
  }
  hull.resize(k - 1);
  return hull;
}

constexpr double kPi = 3.14159265358979323846;

// Least-area rectangle around the hull (one side lies along a hull edge): centre, longer side,
// shorter side, and the yaw of the longer side in (-pi/2, pi/2].
std::array<double, 5> min_area_rect(const std::vector<Point2> &hull) {
  if (hull.size() == 1) return {hull[0].x, hull[0].y, 0.0, 0.0, 0.0};
  double best_area = std::numeric_limits<double>::infinity();
  std::array<double, 5> best{};
  for (size_t i = 0; i < hull.size(); ++i) {
    const Point2 &a = hull[i];
    const Point2 &b = hull[(i + 1) % hull.size()];
    const double length = std::hypot(b.x - a.x, b.y - a.y);
    if (length == 0) continue;
    const double ux = (b.x - a.x) / length, uy = (b.y - a.y) / length;
    double lo_u = 0, hi_u = 0, lo_v = 0, hi_v = 0;
    for (const Point2 &p : hull) {
      const double du = (p.x - a.x) * ux + (p.y - a.y) * uy;
      const double dv = -(p.x - a.x) * uy + (p.y - a.y) * ux;
      lo_u = std::min(lo_u, du), hi_u = std::max(hi_u, du);
      lo_v = std::min(lo_v, dv), hi_v = std::max(hi_v, dv);
    }
    const double area = (hi_u - lo_u) * (hi_v - lo_v);
    if (area < best_area) {
      best_area = area;
      const double mu = (lo_u + hi_u) / 2, mv = (lo_v + hi_v) / 2;
      double side_u = hi_u - lo_u, side_v = hi_v - lo_v;
      double yaw = std::atan2(uy, ux);
      if (side_v > side_u) {
        std::swap(side_u, side_v);
        yaw += kPi / 2;
      }
      yaw = std::remainder(yaw, kPi);
      if (yaw <= -kPi / 2) yaw += kPi;
      best = {a.x + mu * ux - mv * uy, a.y + mu * uy + mv * ux, side_u, side_v, yaw};
    }
  }
  return best;
}

// Per group k (rows order[starts[k]:starts[k+1]] of points): lowest, highest and mean point,
// and for the groups listed in `boxed` the least-area footprint rectangle (cx, cy, length,
// width, yaw). Coordinates are relative to each group's first point while fitting, in double,
// so that map-frame coordinates kilometres from the origin keep their precision.
template <typename Real>
py::tuple group_boxes(const py::array_t<Real, py::array::c_style> &points, const Indices &order,
                      const Indices &starts, const Indices &boxed) {
  if (points.ndim() != 2 || points.shape(1) != 3) {
    throw std::invalid_argument("points must be an (N, 3) array");
  }
  const int64_t n = points.shape(0);
  const int64_t groups = starts.shape(0) - 1;
  const int64_t *at = order.data();
  const int64_t *start = starts.data();
  if (order.ndim() != 1 || starts.ndim() != 1 || groups < 0 ||
      start[groups] != order.shape(0)) {
    throw std::invalid_argument("group_boxes: starts must run from 0 to len(order)");
  }
  const Real *xyz = points.data();
  for (int64_t i = 0; i < order.shape(0); ++i) {
    if (at[i] < 0 || at[i] >= n) throw std::invalid_argument("group_boxes: bad row index");
  }
  py::array_t<double> lows({groups, int64_t{3}}), highs({groups, int64_t{3}}),
      means({groups, int64_t{3}});
  double *low = lows.mutable_data(), *high = highs.mutable_data(), *mean = means.mutable_data();
  for (int64_t k = 0; k < groups; ++k) {
    if (start[k] > start[k + 1]) throw std::invalid_argument("group_boxes: starts decrease");
    for (int axis = 0; axis < 3; ++axis) {  // an empty group: NaN (no points, no extent)
      double lo = std::numeric_limits<double>::infinity(), hi = -lo, sum = 0;
      for (int64_t i = start[k]; i < start[k + 1]; ++i) {
        const double value = xyz[3 * at[i] + axis];
        lo = std::min(lo, value), hi = std::max(hi, value), sum += value;
      }
      const bool empty = start[k] == start[k + 1];
      low[3 * k + axis] = empty ? std::nan("") : lo;
      high[3 * k + axis] = empty ? std::nan("") : hi;
      mean[3 * k + axis] = sum / static_cast<double>(start[k + 1] - start[k]);
    }
  }
  const int64_t boxes = boxed.shape(0);
  py::array_t<double> rects({boxes, int64_t{5}});
  double *rect = rects.mutable_data();
  std::vector<Point2> pts;
  for (int64_t j = 0; j < boxes; ++j) {
    const int64_t k = boxed.data()[j];
    if (k < 0 || k >= groups || start[k] == start[k + 1]) {
      throw std::invalid_argument("group_boxes: boxed names an empty or unknown group");
    }
    const double ax = xyz[3 * at[start[k]]], ay = xyz[3 * at[start[k]] + 1];
    pts.clear();
    for (int64_t i = start[k]; i < start[k + 1]; ++i) {
      pts.push_back({xyz[3 * at[i]] - ax, xyz[3 * at[i] + 1] - ay});
      if (!std::isfinite(pts.back().x) || !std::isfinite(pts.back().y)) {
        throw std::invalid_argument("group_boxes: a boxed group has a non-finite point");
      }
    }
    const std::array<double, 5> r = min_area_rect(convex_hull(pts));
    rect[5 * j] = r[0] + ax, rect[5 * j + 1] = r[1] + ay;
    rect[5 * j + 2] = r[2], rect[5 * j + 3] = r[3], rect[5 * j + 4] = r[4];
  }
  return py::make_tuple(lows, highs, means, rects);
}

// The crop of segmentation: points relative to the origin (float32, as numpy would compute
// them) whose horizontal range and height are inside the bounds; NaN and inf fail every test.
py::tuple crop(const Points &points, std::array<double, 3> origin, double min_range,
               double max_range, double min_z, double max_z) {
  check_points(points, "points");
  const int64_t n = points.shape(0);
  const float *xyz = points.data();
  const auto o = std::array<float, 3>{static_cast<float>(origin[0]), static_cast<float>(origin[1]),
                                      static_cast<float>(origin[2])};
  const auto lo_sq = static_cast<float>(min_range * min_range);
  const auto hi_sq = static_cast<float>(max_range * max_range);
  const auto lo_z = static_cast<float>(min_z), hi_z = static_cast<float>(max_z);
  py::array_t<bool> kept(n);
  bool *keep = kept.mutable_data();
  std::vector<int64_t> index;
  index.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    const float x = xyz[3 * i] - o[0], y = xyz[3 * i + 1] - o[1], z = xyz[3 * i + 2] - o[2];
    const float range_sq = x * x + y * y;
    keep[i] = range_sq >= lo_sq && range_sq <= hi_sq && z >= lo_z && z <= hi_z;
    if (keep[i]) index.push_back(i);
  }
  py::array_t<float> local({static_cast<py::ssize_t>(index.size()), py::ssize_t{3}});
  float *out = local.mutable_data();
  for (size_t j = 0; j < index.size(); ++j) {
    for (int axis = 0; axis < 3; ++axis) out[3 * j + axis] = xyz[3 * index[j] + axis] - o[axis];
  }
  return py::make_tuple(kept, local, to_array(std::move(index)));
}

}  // namespace

PYBIND11_MODULE(_geometry, m) {
  m.doc() = "Compiled kernels of vlm_seg_ros's per-scan geometry (see src/geometry.cpp).";
  m.def("voxel_means", &voxel_means, py::arg("points"), py::arg("size"),
        "(N, 3) float32 points -> (V, 3) float32 voxel means, (N,) int64 voxel per point.");
  m.def("voxel_clusters", &voxel_clusters, py::arg("points"), py::arg("size"),
        "(N, 3) float32 points -> (N,) int64 labels of connected touching voxels.");
  m.def("group", &group, py::arg("labels"), py::arg("count"),
        "(N,) labels 0..count-1 -> stable order (N,), starts (count + 1,).");
  // float32 (LiDAR drivers) or float64 (points moved into a map frame) without conversion.
  m.def("group_boxes", &group_boxes<float>, py::arg("points"), py::arg("order"),
        py::arg("starts"), py::arg("boxed"),
        "Per group: lows, highs, means (K, 3); for `boxed` groups (cx, cy, length, width, yaw).");
  m.def("group_boxes", &group_boxes<double>, py::arg("points"), py::arg("order"),
        py::arg("starts"), py::arg("boxed"));
  py::class_<SupportRule>(m, "SupportRule")
      .def(py::init([](double min_area, int64_t min_points, double tolerance,
                       double vertical_tolerance, double thickness, double cell, double margin,
                       double share, double max_footprint) {
             return SupportRule{min_area,  tolerance, vertical_tolerance, thickness,   cell,
                                margin,    share,     max_footprint,      min_points};
           }),
           py::kw_only(), py::arg("min_area"), py::arg("min_points"), py::arg("tolerance"),
           py::arg("vertical_tolerance"), py::arg("thickness"), py::arg("cell"),
           py::arg("margin"), py::arg("share"), py::arg("max_footprint"));
  m.def("split_supported", &split_supported, py::arg("points"), py::arg("labels"),
        py::arg("rule"), "(N, 3) float32 points, (N,) labels -> labels, supported parts split.");
  m.def("crop", &crop, py::arg("points"), py::arg("origin"), py::arg("min_range"),
        py::arg("max_range"), py::arg("min_z"), py::arg("max_z"),
        "-> kept (N,) bool, local (M, 3) float32 relative to origin, kept index (M,) int64.");
}
