"""Media libraries every service may share: ffmpeg and probing, transcripts, the offline
speech engine, cues and subtitle formats. They know nothing of tasks, NATS or gRPC."""
