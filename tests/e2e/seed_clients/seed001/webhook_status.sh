#!/bin/sh
# Seed 001, "Webhooks não chegam", cURL. Changed: base URL, credential, the delivery id
# (SEED_WEBHOOK_ID) in place of {webhook_id}.
curl "$SEED_BASE_URL/api/v1/media/webhooks/$SEED_WEBHOOK_ID/status" -H "X-API-Key: $SEED_API_KEY"
