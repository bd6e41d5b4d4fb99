#!/bin/sh
# Seed 000, "Cancelar Task", cURL. Changed: base URL, credential, task id (environment).
curl -X DELETE "$SEED_BASE_URL/video/tasks/$SEED_TASK_ID" -H "X-API-Key: $SEED_API_KEY"
