# Seed 000, "Cancelar Task", Python. Changed: base URL, credential, task id (environment).
import os

import requests

BASE_URL = os.environ["SEED_BASE_URL"]
HEADERS = {"X-API-Key": os.environ["SEED_API_KEY"]}

task_id = os.environ["SEED_TASK_ID"]
response = requests.delete(f"{BASE_URL}/video/tasks/{task_id}", headers=HEADERS)

if response.status_code == 200:
    print("Task cancelada com sucesso!")
