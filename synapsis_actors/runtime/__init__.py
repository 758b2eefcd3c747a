"""The provider runtime: open_runtime, open_stream, complete, the stream job, the registry."""
