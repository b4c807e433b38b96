"""logview: a full-screen terminal viewer for live logs from hosted APIs, files and stdin."""

__version__ = "0.1.0"
