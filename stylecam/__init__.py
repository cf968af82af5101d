"""stylecam: real-time neural style transfer for webcams, video files and virtual cameras.

Installed as one import name: `stylecam.realtime` (the runtime, no torch) and `stylecam.export`
(training and export, torch). The repository keeps them as the top-level folders realtime/ and
export/; pyproject.toml maps them under this package, so nothing else lands in site-packages.
"""
