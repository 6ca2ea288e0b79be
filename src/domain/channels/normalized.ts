/**
 * The inbound message as the domain reads it. Its shape is the channel parsers'
 * (src/integrations/normalized-message.ts); it is named here too for the domain's own files.
 */
export type { NormalizedMessage } from '../../integrations/normalized-message.ts';

/** The part of an inbound event that decides how it is handled. */
export type InboundKind = 'message' | 'button' | 'status' | 'ignored' | 'malformed';
