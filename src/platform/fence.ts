/**
 * Text from outside our control goes to a model between markers (`<untrusted>…</untrusted>`,
 * `<data>…</data>`) that say it is information, not instructions. The text must not be able to
 * close the fence early and put its own words outside it: every marker of the fence's name is
 * taken out, again and again until none is left, since taking one out can join the text around
 * it into another (`</unt</untrusted>rusted>` becomes `</untrusted>` after one pass).
 */

/** `text` with every opening or closing marker of the tag `name` taken out (spaces inside allowed). */
export function withoutMarkers(text: string, name: string): string {
  const marker = new RegExp(`<\\s*/?\\s*${name}\\s*>`, 'gi');
  let clean = text;
  for (;;) {
    const next = clean.replace(marker, '');
    if (next === clean) return clean;
    clean = next;
  }
}
