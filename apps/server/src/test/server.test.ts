import { request as httpRequest } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeNext, startFakeServer } from './fake-server.js';

type Server = Awaited<ReturnType<typeof startFakeServer>>;
let s: Server;
let client: OpenAI;

beforeAll(async () => {
  s = await startFakeServer();
  client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
afterAll(async () => {
  await s.close();
});

/** Greedy continuation computed independently of the server. */
function greedy(prompt: number[], n: number): number[] {
  const h = [...prompt];
  for (let i = 0; i < n; i++) h.push(fakeNext(h));
  return h.slice(prompt.length);
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return Number(line?.split(' ').at(-1));
}

describe('OpenAI client against dcp serve', () => {
  it('lists the served model', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['tiny']);
  });

  it('completes text greedily with the right usage', async () => {
    const prompt = 'The jury said';
    const ids = s.tokenizer.encode(prompt);
    const r = await client.completions.create({ model: 'tiny', prompt, max_tokens: 7, temperature: 0 });
    const want = greedy(ids, 7);
    expect(r.choices[0]!.text).toBe(s.tokenizer.decode(want));
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(r.usage).toEqual({
      prompt_tokens: ids.length,
      completion_tokens: 7,
      total_tokens: ids.length + 7,
    });
  });

  it('accepts token-id prompts and lists of prompts, with n choices each', async () => {
    const r = await client.completions.create({
      model: 'tiny',
      prompt: [
        [5, 6, 7],
        [8, 9],
      ],
      max_tokens: 3,
      temperature: 0,
      n: 2,
    });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    expect(r.choices[0]!.text).toBe(s.tokenizer.decode(greedy([5, 6, 7], 3)));
    expect(r.choices[3]!.text).toBe(s.tokenizer.decode(greedy([8, 9], 3)));
    expect(r.usage!.prompt_tokens).toBe(5);
    expect(r.usage!.completion_tokens).toBe(12);
  });

  it('runs chat completions through the chat template', async () => {
    const messages = [{ role: 'user' as const, content: 'Hello there' }];
    const ids = s.tokenizer.encode(s.tokenizer.applyChatTemplate(messages), { addSpecialTokens: false });
    const r = await client.chat.completions.create({
      model: 'tiny',
      messages,
      max_tokens: 5,
      temperature: 0,
    });
    expect(r.choices[0]!.message.content).toBe(s.tokenizer.decode(greedy(ids, 5)));
    expect(r.usage!.prompt_tokens).toBe(ids.length);
  });

  it('streams exactly what it returns without streaming (seeded sampling), usage last', async () => {
    const body = { model: 'tiny', prompt: 'In the city', max_tokens: 12, temperature: 1, seed: 1234 };
    const plain = await client.completions.create(body);
    const again = await client.completions.create(body);
    expect(again.choices[0]!.text).toBe(plain.choices[0]!.text);
    const stream = await client.completions.create({
      ...body,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: unknown = null;
    for await (const chunk of stream) {
      for (const c of chunk.choices) text += c.text;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(plain.choices[0]!.text);
    expect(usage).toEqual(plain.usage);

    const chatBody = {
      model: 'tiny',
      messages: [{ role: 'user' as const, content: 'Tell me' }],
      max_tokens: 9,
      temperature: 0.7,
      seed: 5,
    };
    const chatPlain = await client.chat.completions.create(chatBody);
    const chatStream = await client.chat.completions.create({ ...chatBody, stream: true });
    let chatText = '';
    let finish: string | null = null;
    for await (const chunk of chatStream) {
      chatText += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(chatText).toBe(chatPlain.choices[0]!.message.content);
    expect(finish).toBe('length');
  });

  it('honours stop strings and returns logprobs', async () => {
    const prompt = 'She was';
    const full = s.tokenizer.decode(greedy(s.tokenizer.encode(prompt), 20));
    const stop = full.slice(8, 11);
    const r = await client.completions.create({
      model: 'tiny',
      prompt,
      max_tokens: 20,
      temperature: 0,
      stop: [stop],
      logprobs: 2,
    });
    expect(r.choices[0]!.text).toBe(full.slice(0, full.indexOf(stop)));
    expect(r.choices[0]!.finish_reason).toBe('stop');
    const lp = r.choices[0]!.logprobs!;
    expect(lp.top_logprobs![0]).toBeTypeOf('object');
    for (const v of lp.token_logprobs!) expect(v).toBeLessThanOrEqual(0);
  });

  it('returns the same tokens for concurrent requests as for the same requests alone', async () => {
    const prompts = ['one', 'two words', 'three more words', 'and four'];
    const alone = [];
    for (const p of prompts)
      alone.push(
        (await client.completions.create({ model: 'tiny', prompt: p, max_tokens: 6, temperature: 0 }))
          .choices[0]!.text,
      );
    const together = await Promise.all(
      prompts.map((p) =>
        client.completions.create({ model: 'tiny', prompt: p, max_tokens: 6, temperature: 0 }),
      ),
    );
    expect(together.map((r) => r.choices[0]!.text)).toEqual(alone);
  });
});

describe('errors', () => {
  const post = (
    path: string,
    body: string,
    headers: Record<string, string> = { 'content-type': 'application/json' },
  ) => fetch(`${s.url}${path}`, { method: 'POST', body, headers });

  it('answers bad input with OpenAI-shaped 4xx errors naming the field, and stays healthy', async () => {
    const cases: [string, string, number, string | null][] = [
      ['/v1/completions', JSON.stringify({ prompt: 'x', max_tokens: 0 }), 400, 'max_tokens'],
      ['/v1/completions', JSON.stringify({ prompt: 'x', max_tokens: 'ten' }), 400, 'max_tokens'],
      ['/v1/completions', JSON.stringify({ max_tokens: 3 }), 400, 'prompt'],
      ['/v1/completions', JSON.stringify({ prompt: 'x'.repeat(5000) }), 400, 'prompt'],
      ['/v1/completions', JSON.stringify({ prompt: 'x', model: 'gpt-4' }), 404, 'model'],
      ['/v1/completions', '{"prompt": "x",', 400, null],
      ['/v1/chat/completions', JSON.stringify({ messages: [] }), 400, 'messages'],
      [
        '/v1/chat/completions',
        JSON.stringify({ messages: [{ role: 'wizard', content: 'x' }] }),
        400,
        'messages.0.role',
      ],
    ];
    for (const [path, body, status, param] of cases) {
      const r = await post(path, body);
      expect(r.status, body).toBe(status);
      const j = (await r.json()) as {
        error: { message: string; type: string; param: string | null; code: number };
      };
      expect(j.error.code).toBe(status);
      expect(typeof j.error.message).toBe('string');
      expect(j.error.message).not.toMatch(/\n\s+at /);
      if (param !== null) expect(j.error.param).toBe(param);
    }
    const wrongType = await post('/v1/completions', 'prompt=x', { 'content-type': 'text/plain' });
    expect(wrongType.status).toBe(400);
    const huge = await post('/v1/completions', JSON.stringify({ prompt: 'x'.repeat(17 * 1024 * 1024) }));
    expect(huge.status).toBe(400);
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
  });

  it('survives 200+ generated malformed requests', async () => {
    let seed = 99;
    const r = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const values = [null, -1, 0, 1.5, 'str', '', [], [-3], [1.2], {}, { a: 1 }, true, 1e12, [[]], ['a', 1]];
    const fields = [
      'prompt',
      'max_tokens',
      'temperature',
      'top_p',
      'top_k',
      'n',
      'stop',
      'seed',
      'logprobs',
      'messages',
      'stream',
      'min_p',
    ];
    for (let i = 0; i < 220; i++) {
      const body: Record<string, unknown> =
        i % 2
          ? { prompt: 'hi', max_tokens: 2 }
          : { messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 };
      for (let k = 0; k < 1 + Math.floor(r() * 3); k++)
        body[fields[Math.floor(r() * fields.length)]!] = values[Math.floor(r() * values.length)];
      const path = i % 2 ? '/v1/completions' : '/v1/chat/completions';
      const res = await post(path, JSON.stringify(body));
      expect(res.status, JSON.stringify(body)).not.toBeGreaterThanOrEqual(500);
      if (res.headers.get('content-type')?.includes('text/event-stream')) {
        expect(await res.text()).toMatch(/data: \[DONE\]\n\n$/);
        continue;
      }
      const j = await res.json();
      if (res.status >= 400) expect(j).toHaveProperty('error.code', res.status);
      else expect(j).toHaveProperty('choices');
    }
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
  });

  it('enforces the API key on /v1 only', async () => {
    const k = await startFakeServer({ apiKey: 'sekrit' });
    try {
      expect((await fetch(`${k.url}/v1/models`)).status).toBe(401);
      expect(
        (await fetch(`${k.url}/v1/models`, { headers: { authorization: 'Bearer sekrit' } })).status,
      ).toBe(200);
      expect((await fetch(`${k.url}/health`)).status).toBe(200);
    } finally {
      await k.close();
    }
  });
});

describe('disconnects and metrics', () => {
  it('frees the KV blocks of a client that disconnects mid-stream', async () => {
    await new Promise<void>((resolve, reject) => {
      const body = JSON.stringify({
        model: 'tiny',
        prompt: 'a long story',
        max_tokens: 400,
        temperature: 0,
        stream: true,
      });
      const u = new URL(`${s.url}/v1/completions`);
      const req = httpRequest(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          let chunks = 0;
          res.on('data', () => {
            if (++chunks === 3) {
              req.destroy();
              resolve();
            }
          });
        },
      );
      req.on('error', () => {});
      req.end(body);
      setTimeout(() => reject(new Error('no stream data')), 10_000);
    });
    let running = 1;
    for (let i = 0; i < 100 && running > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      running = await metric('vllm:num_requests_running');
    }
    expect(running).toBe(0);
    expect(await metric('vllm:kv_cache_usage_perc')).toBe(0);
    expect(await metric('vllm:generation_tokens_total')).toBeGreaterThan(0);
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
  });
});

describe('types are validated, never converted', () => {
  const post = (body: unknown) =>
    fetch(`${s.url}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });

  it('keeps one prompt of token ids as one prompt', async () => {
    const r = (await (await post({ prompt: [5, 6, 7], max_tokens: 2, temperature: 0 })).json()) as {
      choices: { text: string }[];
      usage: { prompt_tokens: number };
    };
    expect(r.choices).toHaveLength(1);
    expect(r.usage.prompt_tokens).toBe(3);
    expect(r.choices[0]!.text).toBe(s.tokenizer.decode(greedy([5, 6, 7], 2)));
    const one = (await (await post({ prompt: [[5, 6, 7]], max_tokens: 2, temperature: 0 })).json()) as {
      choices: { text: string }[];
    };
    expect(one.choices.map((c) => c.text)).toEqual(r.choices.map((c) => c.text));
  });

  it('refuses strings for numbers, booleans for prompts and numbers for chat content', async () => {
    for (const [body, param] of [
      [{ prompt: 'x', max_tokens: '3' }, 'max_tokens'],
      [{ prompt: true }, 'prompt'],
    ] as const) {
      const r = await post(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(((await r.json()) as { error: { param: string } }).error.param).toBe(param);
    }
    const chat = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ messages: [{ role: 'user', content: 5 }] }),
      headers: { 'content-type': 'application/json' },
    });
    expect(chat.status).toBe(400);
    const text = await fetch(`${s.url}/v1/completions`, {
      method: 'POST',
      body: 'x',
      headers: { 'content-type': 'text/plain' },
    });
    expect(text.status).toBe(400);
    expect(((await text.json()) as { error: { message: string } }).error.message).toMatch(/Content-Type/);
  });
});
