# Seed 002, "Exemplos de Implementação", Python. Changed: API_URL and API_KEY (environment);
# the note's placeholder image list `[...]` is SEED_IMAGES (JSON).
import json
import os
import time

import requests

API_URL = os.environ["SEED_BASE_URL"]
API_KEY = os.environ["SEED_API_KEY"]
HEADERS = {"X-API-Key": API_KEY, "Content-Type": "application/json"}


# 1. Submeter job
def submit_video(images):
    response = requests.post(
        f"{API_URL}/video/img2vid/async", headers=HEADERS, json={"images": images, "path": "videos/output"}
    )
    data = response.json()
    return data["jobId"]


# 2. Polling de status
def poll_job_status(job_id):
    while True:
        response = requests.get(f"{API_URL}/video/job/{job_id}", headers=HEADERS)
        status = response.json()

        print(f"Status: {status['status']}")

        if status["status"] == "COMPLETED":
            return status["output"]

        if status["status"] == "FAILED":
            raise Exception(status["error"])

        time.sleep(3)  # Aguarda 3 segundos


# 3. Uso
job_id = submit_video(json.loads(os.environ["SEED_IMAGES"]))
result = poll_job_status(job_id)
print("Videos:", json.dumps(result["videos"]))
