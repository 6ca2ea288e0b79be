/**
 * The venue agent's inbox for people: what the agent put before the venue's staff. An item is
 * opened in the same transaction as the agent's answer to the guest's agent (`booking.escalated`),
 * once per envelope, and announced to dashboards after the commit.
 */
import type { InboxItemKind, VenueInboxItem } from '../../generated/prisma/client.ts';
import type { Tx } from '../../platform/db.ts';

/** The pub/sub topic a venue's new inbox items are announced on. */
export const inboxTopic = (venueId: string) => `venue:${venueId}:inbox`;

export interface OpenInboxItemInput {
  venueId: string;
  kind: InboxItemKind;
  /** The AGP id of the envelope that asked, and its sender. */
  envelopeId: string;
  fromAgent: string;
  bookingId?: string | null;
  guestId?: string | null;
  /** The guest's own words, kept as text. */
  guestText?: string | null;
  /** Why staff must decide. */
  reason: string;
}

/**
 * Opens an item for the venue's staff; a second call for the same envelope returns the first
 * item (an envelope handled twice opens one item). Returns whether it is new, so the caller
 * announces only new items.
 */
export async function openInboxItem(
  tx: Tx,
  input: OpenInboxItemInput,
): Promise<{ item: VenueInboxItem; created: boolean }> {
  const existing = await tx.venueInboxItem.findUnique({
    where: { kind_envelopeId: { kind: input.kind, envelopeId: input.envelopeId } },
  });
  if (existing) return { item: existing, created: false };
  const item = await tx.venueInboxItem.create({
    data: {
      venueId: input.venueId,
      kind: input.kind,
      envelopeId: input.envelopeId,
      fromAgent: input.fromAgent,
      bookingId: input.bookingId ?? null,
      guestId: input.guestId ?? null,
      guestText: input.guestText ?? null,
      reason: input.reason,
    },
  });
  return { item, created: true };
}
