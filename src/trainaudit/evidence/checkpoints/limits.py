"""Bounds that keep a hostile or broken checkpoint from exhausting memory or time."""

MAX_PICKLE_BYTES = 512 * 1024 * 1024  # data.pkl holds structure, not tensor data
MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors caps its own JSON header at 100 MB
MAX_ZIP_MEMBERS = 200_000
MAX_COMPRESSION_RATIO = 200  # declared / compressed size of any compressed member
MAX_INDEX_BYTES = 50 * 1024 * 1024  # a sharded model's *.index.json
MAX_TENSORS = 1_000_000
MAX_DIMS = 64
