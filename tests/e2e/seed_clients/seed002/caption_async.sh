#!/bin/sh
# Seed 002, "POST /video/caption/async", cURL. Changed: base URL, credential; the example's
# URLs are SEED_VIDEO_URL and SEED_SRT_URL (environment).
curl -X POST "$SEED_BASE_URL/video/caption/async" \
  -H "X-API-Key: $SEED_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "url_video": "'"$SEED_VIDEO_URL"'",
    "url_srt": "'"$SEED_SRT_URL"'",
    "path": "videos/output",
    "output_filename": "video_with_caption.mp4"
  }'
