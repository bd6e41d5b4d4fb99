"""mediatasks: long media jobs, run asynchronously over gRPC and REST."""
