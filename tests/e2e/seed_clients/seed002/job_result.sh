#!/bin/sh
# Seed 002, "GET /video/job/:jobId/result", cURL. Changed: base URL, credential, job id.
curl "$SEED_BASE_URL/video/job/$SEED_JOB_ID/result" \
  -H "X-API-Key: $SEED_API_KEY"
