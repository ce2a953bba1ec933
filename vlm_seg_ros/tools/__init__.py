"""Programs people run: process-bag, kitti-to-bag, download-models, the demo, and more.

``bringup`` is the launch graph (the Python twin of ``perception.launch.py``), ``evaluation``
scores the segmentation against labelled scans.
"""
