/**
 * Whether a row already in hand holds everything a Prisma selection (from the Pothos Prisma
 * plugin) asks for, so that a resolver can answer from it instead of reading again: every
 * selected scalar is present, and every selected relation is present and holds its own
 * selection. Anything else (a whole relation, `include`, arguments such as `where`) is not
 * assumed to be held.
 */
export function holdsSelection(row: unknown, query: unknown): boolean {
  if (!isRecord(row) || !isRecord(query)) return false;
  const { select, ...rest } = query;
  if (Object.keys(rest).length > 0 || !isRecord(select)) return false;
  return Object.entries(select).every(([key, wanted]) => {
    if (wanted === false || wanted === undefined) return true;
    if (!(key in row)) return false;
    const value = row[key];
    if (wanted === true) return !isRecord(value);
    return holdsSelection(value, wanted);
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
