// The built-in datasets live in train/data/builtin.ts (the bench and the library use them too).
export { BUILT_IN, SYNTH_DEFAULT, SYNTH_OPTIM, cacheDir, defaultDataset, resolveDataset } from '../train/data/builtin.js';
