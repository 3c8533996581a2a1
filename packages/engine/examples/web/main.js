// The page: the scheduler and tokenizer run here, each rank in a Web Worker of its own.
import { defaultEngineConfig } from '@dcp/config';
import { createWebEngine } from '@dcp/engine/web';

const out = document.querySelector('#out');
const print = (line) => {
  out.textContent += `${line}\n`;
};
const q = new URLSearchParams(location.search);
const config = defaultEngineConfig();
config.model = '/models/brown/'; // a Hugging Face folder served by this origin
config.parallel.tp = Number(q.get('tp') ?? 2); // two rank workers...
config.parallel.dcp = Number(q.get('dcp') ?? 2); // ...that split every sequence's KV cache
config.attentionBackend = q.get('backend') ?? 'webgpu-mla'; // a WebGPU device per rank
config.cache.kvCacheMemoryBytes = 16 * 2 ** 20; // per rank

try {
  const { llm, tokenizer, rankInfo } = await createWebEngine(config, {
    createWorker: (_rank, name) =>
      new Worker(new URL('./rank-worker.js', import.meta.url), { type: 'module', name }),
    allowSoftwareGpu: true, // SwiftShader counts: slow, but it runs anywhere
    log: print,
  });
  for (const r of rankInfo) print(`rank ${r.rank}: ${r.backend} in ${r.scope} '${r.workerName}'`);
  const prompt = 'The jury said';
  out.textContent += prompt;
  for await (const d of llm.generate({
    requestId: 'demo',
    promptTokenIds: tokenizer.encode(prompt),
    params: { maxTokens: Number(q.get('tokens') ?? 16), temperature: 0 },
  })) {
    out.textContent += d.newText;
    if (d.finished) print(`\n(${d.finishReason}, ${d.numOutputTokens} tokens)`);
  }
  await llm.shutdown();
} catch (e) {
  print(`error: ${e.message}`);
}
document.title = 'done';
