import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * `dcp serve` as a user runs it: the built CLI spawned with a real engine (the `tiny` preset,
 * dummy weights, -tp 2 -dcp 2 on worker threads), answering on a loopback port, then stopped with
 * SIGTERM while a stream is in flight: after the grace period the request is aborted, its stream
 * ends with `data: [DONE]`, and the process exits 0.
 */
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli.js');

async function startServe(): Promise<{ proc: ChildProcess; url: string; stderr: () => string }> {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run pnpm build first`);
  const proc = spawn(
    process.execPath,
    [cli, 'serve', 'tiny', '-tp', '2', '-dcp', '2', '--port', '0', '--log-level', 'warn'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DCP_SHUTDOWN_GRACE_MS: '1500' },
    },
  );
  let err = '';
  proc.stderr!.setEncoding('utf8');
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "serving" line in 120 s:\n${err}`)), 120_000);
    proc.stderr!.on('data', (d: string) => {
      err += d;
      const m = /serving .* on (http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.on('exit', (code) => reject(new Error(`dcp serve exited with ${code}:\n${err}`)));
  });
  return { proc, url, stderr: () => err };
}

describe('dcp serve (spawned, real engine)', () => {
  it('prints the layout, backend and KV capacity, serves, and shuts down cleanly on SIGTERM', async () => {
    const { proc, url, stderr } = await startServe();
    try {
      const log = stderr();
      expect(log).toMatch(/DCP groups \[0,1\]/);
      expect(log).toMatch(/backend: cpu-mla/);
      expect(log).toMatch(/KV cache size: \d+ tokens/);
      expect(log).toMatch(/multiplying the KV cache size by the dcp world size 2/);
      const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
      expect(models.data[0]!.id).toBe('tiny');
      const r = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'The jury said', max_tokens: 5, temperature: 0 }),
      });
      const j = (await r.json()) as { usage: { completion_tokens: number } };
      expect(j.usage.completion_tokens).toBe(5);
      const stream = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          prompt: 'Once',
          max_tokens: 8000,
          temperature: 0,
          ignore_eos: true,
          stream: true,
        }),
      });
      const reader = stream.body!.getReader();
      await reader.read();
      const t0 = performance.now();
      proc.kill('SIGTERM');
      let text = '';
      for (;;) {
        const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      const [code] = await once(proc, 'exit');
      expect(code).toBe(0);
      expect(performance.now() - t0).toBeLessThan(30_000);
      // Past the grace period the request is aborted, and its stream still ends properly.
      expect(text).toMatch(/data: \[DONE\]\n\n$/);
      expect(stderr()).toMatch(/SIGTERM: shutting down/);
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
  });
});
