import type { NamedHistory } from './histories.js';
import type { Recommendation } from '../../runtime/recommender.js';

export interface RecommendationReport {
  user: string;
  historyLength: number;
  items: string[];
  titles?: string[];
  scores: number[];
}

export function reportOf(
  users: NamedHistory[],
  recs: Recommendation[],
  titles: Map<string, string> | null,
): RecommendationReport[] {
  return users.map((u, i) => ({
    user: u.id,
    historyLength: u.items.length,
    items: recs[i].items,
    ...(titles ? { titles: recs[i].items.map((t) => titles.get(t) ?? '') } : {}),
    scores: recs[i].scores.map((s) => +s.toFixed(5)),
  }));
}

/** A readable table per user: rank, item token, title (when the dataset has titles), score. */
export function formatTable(reports: RecommendationReport[]): string {
  const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
  return (
    reports
      .map((r) => {
        const rows = r.items.map((t, i) => [
          String(i + 1),
          t,
          ...(r.titles ? [clip(r.titles[i], 60)] : []),
          r.scores[i].toFixed(4),
        ]);
        const head = ['rank', 'item', ...(r.titles ? ['title'] : []), 'score'];
        const w = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
        const right = (c: number) => c === 0 || c === head.length - 1;
        const line = (cells: string[]) =>
          cells
            .map((x, c) => (right(c) ? x.padStart(w[c]) : x.padEnd(w[c])))
            .join('  ')
            .trimEnd();
        return [
          `${r.user} (${r.historyLength} item${r.historyLength === 1 ? '' : 's'} of history)`,
          line(head),
          ...rows.map(line),
        ].join('\n');
      })
      .join('\n\n') + '\n'
  );
}
