export * from './build.js';
export * from './ort-web.js';
export * from './write.js';
