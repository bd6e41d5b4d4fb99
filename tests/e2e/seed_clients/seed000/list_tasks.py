# Seed 000, "Listar Tasks", Python. Changed: base URL and credential (environment).
import os

import requests

BASE_URL = os.environ["SEED_BASE_URL"]
HEADERS = {"X-API-Key": os.environ["SEED_API_KEY"]}

response = requests.get(
    f"{BASE_URL}/video/tasks",
    headers=HEADERS,
    params={"status": "completed", "limit": 10, "sort": "-created_at"},
)

tasks = response.json()
for task in tasks["items"]:
    print(f"{task['task_id']}: Score {task['result']['score']}")
