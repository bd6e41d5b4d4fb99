#!/bin/sh
# Seed 002, "GET /video/job/:jobId", cURL. Changed: base URL, credential, job id (environment).
curl "$SEED_BASE_URL/video/job/$SEED_JOB_ID" \
  -H "X-API-Key: $SEED_API_KEY"
