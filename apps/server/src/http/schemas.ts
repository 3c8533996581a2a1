/**
 * JSON schemas of the request bodies (validated by fastify's ajv before a handler runs). Unknown
 * fields are allowed, as OpenAI's and vLLM's servers allow them; known fields must have the right
 * types and ranges.
 */
const tokenIds = { type: 'array', items: { type: 'integer', minimum: 0 }, minItems: 1 } as const;

const sampling = {
  max_tokens: { type: ['integer', 'null'], minimum: 1 },
  temperature: { type: ['number', 'null'], minimum: 0, maximum: 100 },
  top_p: { type: ['number', 'null'], exclusiveMinimum: 0, maximum: 1 },
  top_k: { type: ['integer', 'null'], minimum: -1 },
  min_p: { type: ['number', 'null'], minimum: 0, maximum: 1 },
  seed: { type: ['integer', 'null'] },
  n: { type: ['integer', 'null'], minimum: 1, maximum: 128 },
  stop: {
    anyOf: [
      { type: 'string', minLength: 1 },
      { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 16 },
      { type: 'null' },
    ],
  },
  stop_token_ids: { type: ['array', 'null'], items: { type: 'integer', minimum: 0 } },
  stream: { type: ['boolean', 'null'] },
  stream_options: {
    type: ['object', 'null'],
    properties: { include_usage: { type: ['boolean', 'null'] } },
  },
  ignore_eos: { type: ['boolean', 'null'] },
  min_tokens: { type: ['integer', 'null'], minimum: 0 },
  skip_special_tokens: { type: ['boolean', 'null'] },
  presence_penalty: { type: ['number', 'null'], minimum: -2, maximum: 2 },
  frequency_penalty: { type: ['number', 'null'], minimum: -2, maximum: 2 },
  user: { type: ['string', 'null'] },
  priority: { type: ['integer', 'null'] },
} as const;

/** `POST /v1/completions`. */
export const completionBody = {
  type: 'object',
  required: ['prompt'],
  properties: {
    model: { type: ['string', 'null'] },
    prompt: {
      anyOf: [
        { type: 'string' },
        { type: 'array', items: { type: 'string' }, minItems: 1 },
        tokenIds,
        { type: 'array', items: tokenIds, minItems: 1 },
      ],
    },
    echo: { type: ['boolean', 'null'] },
    logprobs: { type: ['integer', 'null'], minimum: 0, maximum: 20 },
    ...sampling,
  },
} as const;

const contentPart = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string' }, text: { type: 'string' } },
} as const;

/** `POST /v1/chat/completions`. */
export const chatBody = {
  type: 'object',
  required: ['messages'],
  properties: {
    model: { type: ['string', 'null'] },
    messages: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['role'],
        properties: {
          role: { type: 'string', enum: ['system', 'user', 'assistant', 'developer', 'tool'] },
          content: { anyOf: [{ type: 'string' }, { type: 'array', items: contentPart }, { type: 'null' }] },
          name: { type: 'string' },
        },
      },
    },
    max_completion_tokens: { type: ['integer', 'null'], minimum: 1 },
    logprobs: { type: ['boolean', 'null'] },
    top_logprobs: { type: ['integer', 'null'], minimum: 0, maximum: 20 },
    ...sampling,
  },
} as const;
