/**
 * `@dcp/brown-model`: a small DeepSeek-V2 (MLA + MoE) trained on the Brown corpus, shipped as a
 * Hugging Face model folder, with its fixed held-out evaluation set and the reference figures that
 * every dcp layout and backend must reproduce. Node-only (the paths come from `import.meta.url`).
 */
export {
  type BrownBaselineFigures,
  type BrownBaselines,
  type BrownEvalReference,
  type BrownEvalSet,
  type BrownEvalWindow,
  compareWithReference,
  type EvalComparison,
  type EvalSummary,
  readBrownBaselines,
  readBrownEvalReference,
  readBrownEvalSet,
  summarizeEval,
} from './eval.js';
export {
  BROWN_MODEL_FILES,
  brownBaselinesPath,
  brownEvalReferencePath,
  brownEvalSetPath,
  brownModelDir,
  brownModelUrl,
} from './paths.js';
