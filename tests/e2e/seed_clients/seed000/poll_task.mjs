// Seed 000, "Consultar Status", JavaScript. Changed: base URL, credential, task id (environment).
const BASE_URL = process.env.SEED_BASE_URL;
const HEADERS = { 'X-API-Key': process.env.SEED_API_KEY };

async function pollTask(taskId) {
  while (true) {
    const response = await fetch(`${BASE_URL}/video/tasks/${taskId}`, { headers: HEADERS });
    const task = await response.json();

    if (task.status === 'completed') {
      console.log('Análise completa!', task.result);
      return task.result;
    } else if (task.status === 'failed') {
      throw new Error(task.error);
    } else {
      console.log(`Status: ${task.status} - Progress: ${task.progress}%`);
      await new Promise(resolve => setTimeout(resolve, 2000));
    }
  }
}

pollTask(process.env.SEED_TASK_ID)
  .then(result => console.log('Score:', result.score))
  .catch(error => console.error('Erro:', error));
