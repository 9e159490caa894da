"""One storage layer for every path a node program reads or writes: a local path or ``s3://bucket/key``.

Programs use it as ``from executables.common import storage`` and ``storage.local_copy(...)``; the functions live in
``paths`` (URLs, joining, the ``PathOrUrl`` option type), ``clients`` (S3 clients and their failures in the node
contract's terms), ``reads`` (queries and verified downloads), ``writes`` (verified, resumable uploads) and
``checksums`` (MD5 and ETags, which both sides check).
"""

from executables.common.storage.checksums import expected_md5, file_md5
from executables.common.storage.clients import client, default_client, describe_client
from executables.common.storage.paths import PathOrUrl, S3Url, is_remote, join, parse_url
from executables.common.storage.reads import exists, listdir, local_copies, local_copy, size
from executables.common.storage.writes import check_object, scratch, upload, verified_output, writable

__all__ = [
    "PathOrUrl",
    "S3Url",
    "check_object",
    "client",
    "default_client",
    "describe_client",
    "exists",
    "expected_md5",
    "file_md5",
    "is_remote",
    "join",
    "listdir",
    "local_copies",
    "local_copy",
    "parse_url",
    "scratch",
    "size",
    "upload",
    "verified_output",
    "writable",
]
