#!/bin/sh
# Seed 001, "Performance lenta", cURL. Changed: base URL and credential.
curl "$SEED_BASE_URL/api/v1/media/cache/stats" -H "X-API-Key: $SEED_API_KEY"
