"""Object storage: bucket references, uploads of local inputs, signed GET URLs, outputs to buckets.

``refs`` is pure; ``store`` wraps ``obstore`` (one client for S3, GCS and Azure); ``localserver``
runs a real S3-compatible server (SeaweedFS) on loopback for tests and the local demo.
"""
