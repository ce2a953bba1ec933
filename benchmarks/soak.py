"""Soak benchmark: perception_node for 10 minutes at 10 Hz; memory growth and latency drift.

Run after ``scripts/setup`` and ``source ./activate``::

    python benchmarks/soak.py [--minutes 10] [--rate 10] [--warmup 1] [--data ../shared/data]

The node runs in its own process and this one plays the sensors, as in ``latency.py`` (the
same KITTI frame or synthetic stand-in, stamped with the current time; geometry only, models
off). The node's RSS (``/proc/<pid>/status``: VmRSS, and RssAnon, its heap) is sampled every
10 s (four times a row when rows are shorter), and the latency of every graph (input stamp ->
arrival here) is kept. The first row is the warm-up (caches filled, allocator settled); every
row lasts as long. Prints a table per row (a minute by default): the node's RSS and RssAnon at
the row's end, latency p50 / p95, graphs received / frames sent, and the node's drops from its
``/diagnostics``; then

- RSS growth from the end of the warm-up to the end, in % (goal < 5 %), with the growth of
  RssAnon and of the median RSS of the first row after the warm-up to that of the last row
  (single samples move by some MiB as 3 MB messages come and go);
- the slope of RSS over time after the warm-up, MiB/min (least squares over the samples);
- latency drift: p50 of the last row / p50 of the first row after the warm-up (goal ~1.0);
- the drops of the whole run by reason.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import math
from pathlib import Path
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # latency.py, also under python -P
from latency import (  # noqa: E402
    DATA,
    Bench,
    Snapshot,
    Stamp,
    describe_setup,
    drop_text,
    drops_between,
    load_frame,
    received_text,
)

SOAK_NAMESPACE = '/soak_bench'
# Longest time between two RSS samples, seconds.
SAMPLE_PERIOD = 10.0


@dataclass
class Sample:
    """The state at the end of one publishing chunk."""

    minutes: float  # since the soak started
    rss: float  # the node's RSS, MiB
    anon: float  # the anonymous part of it (RssAnon: the heap), MiB
    stamps: list[Stamp]  # frames sent in the chunk
    diagnostics: Snapshot  # the node's latest report


def percentiles(values: list[float]) -> tuple[float, float]:
    """Return p50 and p95 (NaN when empty)."""
    if not values:
        return math.nan, math.nan
    p50, p95 = np.percentile(values, [50, 95]).tolist()
    return p50, p95


def main() -> int:
    """Run the soak and print its table and summary."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--minutes', type=float, default=10.0, help='length (default 10)')
    parser.add_argument('--rate', type=float, default=10.0, help='input rate, Hz (default 10)')
    parser.add_argument('--warmup', type=float, default=1.0,
                        help='minutes of warm-up, also the length of a table row (default 1)')
    parser.add_argument('--data', type=Path, default=DATA, help=f'default {DATA}')
    args = parser.parse_args()
    if not 0 < args.warmup < args.minutes:
        parser.error('--warmup must be positive and shorter than --minutes')

    row_seconds = 60 * args.warmup
    per_row = max(4, math.ceil(row_seconds / SAMPLE_PERIOD))  # RSS samples per row
    chunk = row_seconds / per_row
    chunks = max(per_row + 1, round(60 * args.minutes / chunk))
    sensors = load_frame(args.data)
    print(describe_setup(sensors))
    print(f'soak: {args.rate:g} Hz for {args.minutes:g} min, warm-up {args.warmup:g} min; '
          f'node RSS sampled every {chunk:g} s, rows of {args.warmup:g} min')

    with Bench(sensors, SOAK_NAMESPACE) as bench:
        if not bench.wait_ready():
            print('soak: FAILED, perception_node published nothing', file=sys.stderr)
            return 1
        start = bench.settle(bench.now_ns())
        print(f'node process {bench.pid}: RSS {bench.rss_mib():.1f} MiB at the start')
        samples = []
        began = time.monotonic()
        for _ in range(chunks):
            sent = bench.publish_for(args.rate, chunk, linger=0.0)
            samples.append(Sample((time.monotonic() - began) / 60, bench.rss_mib(),
                                  bench.rss_mib('RssAnon'), sent.stamps, bench.diagnostics))
            if len(samples) % per_row == 0:
                print(f'({samples[-1].minutes:.1f} of {args.minutes:g} min: RSS '
                      f'{samples[-1].rss:.1f} MiB)', file=sys.stderr, flush=True)
        bench.spin(1.0)  # the last graphs
        samples[-1].diagnostics = bench.settle(bench.now_ns())
        graphs = dict(bench.graphs)

    rows = [samples[i:i + per_row] for i in range(0, len(samples), per_row)]

    def latencies(chunk_samples: list[Sample]) -> list[float]:
        return [graphs[s] for sample in chunk_samples for s in sample.stamps if s in graphs]

    print(f'{"minutes":>16} {"RSS MiB":>8} {"anon MiB":>8} {"latency p50 / p95 ms":>21} '
          f'{"graphs / sent":>14}  drops (node /diagnostics)')
    previous = start
    for index, row in enumerate(rows):
        p50, p95 = percentiles(latencies(row))
        count = sum(len(sample.stamps) for sample in row)
        drops = drops_between(row[-1].diagnostics, previous)
        previous = row[-1].diagnostics
        ends = (index * args.warmup, min(index + 1, len(samples) / per_row) * args.warmup)
        label = '-'.join(f'{round(t, 3):g}' for t in ends)
        if index == 0:
            label = f'(warm-up) {label}'
        text = ', '.join(f'{k} {v}' for k, v in drops.items() if v) or '0'
        print(f'{label:>16} {row[-1].rss:8.1f} {row[-1].anon:8.1f} {p50:10.1f} / {p95:8.1f} '
              f'{len(latencies(row)):>6} / {count:<6}  {text}')

    warm, end = rows[0][-1], samples[-1]
    growth = 100 * (end.rss - warm.rss) / warm.rss
    print(f'RSS growth: {warm.rss:.1f} MiB at the end of the warm-up ({warm.minutes:.2f} min) '
          f'-> {end.rss:.1f} MiB at the end ({end.minutes:.2f} min): {growth:+.2f} % '
          f'(goal < 5 %: {"met" if growth < 5 else "NOT met"})')
    first_rss = statistics.median(s.rss for s in rows[1])
    last_rss = statistics.median(s.rss for s in samples[-per_row:])
    print(f'  the anonymous part (RssAnon, the heap) {warm.anon:.1f} -> {end.anon:.1f} MiB: '
          f'{100 * (end.anon - warm.anon) / warm.anon:+.2f} %; median RSS of the first '
          f'{args.warmup:g} min after the warm-up {first_rss:.1f} MiB, of the last '
          f'{args.warmup:g} min {last_rss:.1f} MiB: '
          f'{100 * (last_rss - first_rss) / first_rss:+.2f} %')
    after = [warm, *samples[per_row:]]
    slope = np.polyfit([s.minutes for s in after], [s.rss for s in after], 1)[0]
    print(f'RSS slope after the warm-up: {slope:+.3f} MiB/min (least squares over '
          f'{len(after)} samples)')
    first, last = percentiles(latencies(rows[1])), percentiles(latencies(samples[-per_row:]))
    print(f'latency drift: p50 of the last {args.warmup:g} min {last[0]:.1f} ms / p50 of the '
          f'first {args.warmup:g} min after the warm-up {first[0]:.1f} ms = '
          f'{last[0] / first[0]:.2f} (goal ~1.0); p95 {last[1]:.1f} / {first[1]:.1f} ms = '
          f'{last[1] / first[1]:.2f}')
    sent_total = sum(len(s.stamps) for s in samples)
    received = sum(1 for s in samples for stamp in s.stamps if stamp in graphs)
    published = end.diagnostics.published() - start.published()
    drops = drops_between(end.diagnostics, start)
    print(f'drops (node /diagnostics, whole run): {drop_text(drops)}; '
          f'graphs received {received} of {sent_total} frames sent (node published '
          f'{published}; messages it received: {received_text(end.diagnostics, start)})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
