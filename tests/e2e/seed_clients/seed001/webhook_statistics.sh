#!/bin/sh
# Seed 001, "Webhooks não chegam", cURL. Changed: base URL and credential.
curl "$SEED_BASE_URL/api/v1/media/webhooks/statistics" -H "X-API-Key: $SEED_API_KEY"
