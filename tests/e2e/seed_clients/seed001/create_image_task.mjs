// Seed 001, "Integração com Frontend", JavaScript (React/Next.js), against the native API.
// Changed: the relative URL gets the base URL (SEED_BASE_URL), the bearer token is the
// platform credential (X-API-Key: SEED_API_KEY), and the browser's window.location.origin
// is SEED_WEBHOOK_ORIGIN. The last line prints the id as the note's first example does.
const window = { location: { origin: process.env.SEED_WEBHOOK_ORIGIN } };
const BASE_URL = process.env.SEED_BASE_URL;

const createImageTask = async (prompt) => {
  const response = await fetch(`${BASE_URL}/api/v1/media/images/generate`, {
    method: 'POST',
    headers: {
      'X-API-Key': process.env.SEED_API_KEY,
      'Content-Type': 'application/json'
    },
    body: JSON.stringify({
      prompt,
      webhook_url: `${window.location.origin}/webhook`
    })
  });

  return response.json();
};

const task = await createImageTask('Um gato robô futurista');
console.log(`Tarefa criada: ${task.id}`);
