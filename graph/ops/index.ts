export * from './core.js';
export * from './elementwise.js';
export * from './reduce.js';
export * from './shape-ops.js';
export * from './nn.js';
export * from './loop.js';
export * from './scatter-add.js';
export * from './catalog.js';
