# Seed 000, "Consultar Status", Python. Changed: base URL, credential, task id (environment).
import os
import time

import requests

BASE_URL = os.environ["SEED_BASE_URL"]
HEADERS = {"X-API-Key": os.environ["SEED_API_KEY"]}

task_id = os.environ["SEED_TASK_ID"]

while True:
    response = requests.get(f"{BASE_URL}/video/tasks/{task_id}", headers=HEADERS)
    task = response.json()

    if task["status"] == "completed":
        print("Análise completa!")
        print(f"Score: {task['result']['score']}")
        break
    elif task["status"] == "failed":
        print(f"Erro: {task['error']}")
        break
    else:
        print(f"Status: {task['status']} - Progress: {task['progress']}%")
        time.sleep(2)  # Aguarda 2 segundos antes de verificar novamente
