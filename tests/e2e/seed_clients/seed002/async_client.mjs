// Seed 002, "Exemplos de Implementação", JavaScript/Node.js. Changed: base URL and
// credential (environment); the note's placeholder image list `[...]` is SEED_IMAGES (JSON).
const BASE_URL = process.env.SEED_BASE_URL;
const API_KEY = process.env.SEED_API_KEY;

// 1. Submeter job
async function submitVideo(images) {
  const response = await fetch(`${BASE_URL}/video/img2vid/async`, {
    method: 'POST',
    headers: {
      'X-API-Key': API_KEY,
      'Content-Type': 'application/json'
    },
    body: JSON.stringify({ images, path: 'videos/output' })
  });

  const data = await response.json();
  return data.jobId;
}

// 2. Polling de status
async function pollJobStatus(jobId) {
  while (true) {
    const response = await fetch(`${BASE_URL}/video/job/${jobId}`, {
      headers: { 'X-API-Key': API_KEY }
    });

    const status = await response.json();
    console.log(`Status: ${status.status}`);

    if (status.status === 'COMPLETED') {
      return status.output;
    }

    if (status.status === 'FAILED') {
      throw new Error(status.error);
    }

    // Aguarda 3 segundos antes de consultar novamente
    await new Promise(resolve => setTimeout(resolve, 3000));
  }
}

// 3. Uso completo
const jobId = await submitVideo(JSON.parse(process.env.SEED_IMAGES));
const result = await pollJobStatus(jobId);
console.log('Videos:', JSON.stringify(result.videos));
