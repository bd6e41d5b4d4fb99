// Seed 003, "Frontend Integration", JavaScript, as the note prints it. Changed: the base URL
// and the credential (SEED_BASE_URL; the header is X-User-ID as in the note, which the
// platform honours in its trusted-proxy mode, or SEED_AUTH_HEADER=X-API-Key with the key as
// SEED_USER_ID), and the note's srtFile/mediaFile are files read from SEED_SRT_FILE and
// SEED_MEDIA_FILE.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

const AUTH_HEADER = process.env.SEED_AUTH_HEADER || 'X-User-ID';

class VideoProcessingClient {
  constructor(apiBase, userId) {
    this.apiBase = apiBase;
    this.userId = userId;
  }

  async createTask(srtFile, mediaFile) {
    const formData = new FormData();
    formData.append('srt_file', srtFile);
    formData.append('media_file', mediaFile);

    const response = await fetch(`${this.apiBase}/process/srt_media/`, {
      method: 'POST',
      headers: { [AUTH_HEADER]: this.userId },
      body: formData
    });

    return response.json();
  }

  async pollTaskStatus(taskId, onProgress) {
    const poll = async () => {
      const response = await fetch(`${this.apiBase}/tasks/${taskId}/status`, {
        headers: { [AUTH_HEADER]: this.userId }
      });

      const data = await response.json();
      onProgress(data);

      if (data.status === 'completed') {
        return await this.getTaskResult(taskId);
      } else if (data.status === 'failed') {
        throw new Error(data.error_message || 'Task failed');
      } else if (data.status !== 'cancelled') {
        // Continue polling
        setTimeout(poll, 3000); // Poll every 3 seconds
      }
    };

    return poll();
  }

  async getTaskResult(taskId) {
    const response = await fetch(`${this.apiBase}/tasks/${taskId}/result`, {
      headers: { [AUTH_HEADER]: this.userId }
    });
    return response.json();
  }

  async getUserTasks() {
    const response = await fetch(`${this.apiBase}/users/me/tasks`, {
      headers: { [AUTH_HEADER]: this.userId }
    });
    return response.json();
  }
}

// Usage example
const client = new VideoProcessingClient(process.env.SEED_BASE_URL, process.env.SEED_USER_ID || 'user123');

async function processVideo(srtFile, mediaFile) {
  try {
    // Create task
    const task = await client.createTask(srtFile, mediaFile);
    console.log('Task created:', task.task_id);

    // Poll for completion
    const result = await client.pollTaskStatus(task.task_id, (status) => {
      console.log(`Progress: ${status.progress}% - ${status.stage}`);
    });

    console.log('Processing completed:', result);
    return result;
  } catch (error) {
    console.error('Processing failed:', error);
  }
}

const file = async (path) => new File([await readFile(path)], basename(path));
await processVideo(await file(process.env.SEED_SRT_FILE), await file(process.env.SEED_MEDIA_FILE));
