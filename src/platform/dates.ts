/** A moment's parts (`year`, `month`, `hour`, …) as `Intl.DateTimeFormat` writes them with these options. */
export function dateParts(
  at: Date,
  locale: string,
  options: Intl.DateTimeFormatOptions,
): Record<string, string> {
  return Object.fromEntries(
    new Intl.DateTimeFormat(locale, options).formatToParts(at).map((part) => [part.type, part.value]),
  );
}
