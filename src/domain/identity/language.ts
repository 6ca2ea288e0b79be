/**
 * A language code as a person's row keeps it (`users.language`, BCP 47: `pt`, `pt-BR`), from
 * what they typed (`/language pt_br`) or what their app says (Telegram's `language_code`); null
 * for anything that is not one.
 */
export function languageTag(code: string): string | null {
  const wanted = code.trim().replace('_', '-');
  if (!/^[A-Za-z]{2,3}(-[A-Za-z]{2})?$/.test(wanted)) return null;
  const [base, region] = wanted.split('-') as [string, string | undefined];
  return region ? `${base.toLowerCase()}-${region.toUpperCase()}` : base.toLowerCase();
}
