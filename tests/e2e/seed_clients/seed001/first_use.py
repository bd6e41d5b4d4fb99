# Seed 001, "Primeiro Uso", Python (aiohttp). Changed: the base URL (SEED_BASE_URL), the
# credential (the note's bearer token is the platform's X-API-Key, SEED_API_KEY) and the
# webhook receiver (myapp.com is the reader's own server: SEED_WEBHOOK_ORIGIN). The note's
# snippet awaits at top level, as in a notebook; here asyncio.run runs the same lines.
import asyncio
import os

import aiohttp

# 1. Obter token de autenticação
token = os.environ["SEED_API_KEY"]


async def main():
    # 2. Criar tarefa de imagem
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{os.environ['SEED_BASE_URL']}/api/v1/media/images/generate",
            headers={"X-API-Key": token},
            json={
                "prompt": "Um gato robô futurista",
                "style": "realistic",
                "size": "1024x1024",
                "webhook_url": f"{os.environ['SEED_WEBHOOK_ORIGIN']}/webhook",
            },
        ) as response:
            task = await response.json()
            print(f"Tarefa criada: {task['id']}")


asyncio.run(main())
