/** Where benchmarks report what prepare() decided for them (a modality without features trains as zeros). */
export const note = (m: string): void => {
  process.stderr.write(`note: ${m}\n`);
};
