#!/bin/sh
# Seed 002, "POST /job/:jobId/cancel", cURL. Changed: base URL, credential, job id.
curl -X POST "$SEED_BASE_URL/job/$SEED_JOB_ID/cancel" \
  -H "X-API-Key: $SEED_API_KEY"
