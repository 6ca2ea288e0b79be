/**
 * What every notice says, in each language we speak: for each kind a subject (for email) and a
 * plain-text body, chosen by the person's `users.language` (BCP 47; a language we have no texts
 * for falls back to English), with the venue's local time written the way that language writes
 * it. Nothing here queues or sends: `queueNotice` (notices.ts) renders with `renderNotice` and
 * routes the result.
 *
 * Adding a notice: its kind and parameters in `NoticeParams`, then one entry in every language's
 * table below (the type checker refuses a language without it).
 */
import type { BookingStatus } from '../../generated/prisma/enums.ts';

/** The languages with texts of their own; anything else reads English. */
export const NOTICE_LANGUAGES = ['en', 'es', 'pt', 'id'] as const;
export type NoticeLanguage = (typeof NOTICE_LANGUAGES)[number];

/** How a notice travels: some texts differ ("reply here" means nothing in an email). */
export type NoticeVia = 'CHAT' | 'EMAIL';

/** A booking as notices speak of it. */
export interface BookingNoticeParams {
  venue: string;
  partySize: number;
  startsAt: Date;
  /** The venue's time zone: every time is written in it. */
  timeZone: string;
}

/** Every notice kind and what it needs to be written. */
export interface NoticeParams {
  /** The consumer agent asked the venue for the table. */
  'booking.requested': BookingNoticeParams;
  'booking.confirmed': BookingNoticeParams;
  /** `alternatives`: times the venue offered instead, if any. */
  'booking.declined': BookingNoticeParams & { alternatives?: readonly Date[] };
  'booking.cancelled_by_venue': BookingNoticeParams;
  /** Someone else (the venue's team) changed the time or the party: what it is now, and was. */
  'booking.changed': BookingNoticeParams & { was: { startsAt: Date; partySize: number } };
  'booking.expired': BookingNoticeParams;
  /** The venue's policy handed the request to its staff. */
  'booking.escalated': BookingNoticeParams;
  /** The venue has not answered within the time the guest was promised (or cannot be reached). */
  'booking.not_answered_yet': BookingNoticeParams;
  'booking.reminder_24h': BookingNoticeParams;
  'booking.reminder_2h': BookingNoticeParams;
  'booking.feedback': { venue: string };
  /** A venue's answer to the person's question (`question` as they asked it, when known). */
  'venue.answer': { venue: string; question?: string; answer: string };
  /** A platform admin decided on a venue's review (publishing it, or a change to it). */
  'venue.review_decided': {
    venue: string;
    change: 'PUBLISH' | 'CHANGE';
    approved: boolean;
    reason: string | null;
  };
  /** The day's bookings, for a venue's owners and admins. */
  'venue.daily_summary': {
    venue: string;
    timeZone: string;
    bookings: readonly { startsAt: Date; partySize: number; status: BookingStatus }[];
  };
  /**
   * For an organisation's owners: Stripe could not collect for its subscription (`plan`, a
   * product name); the features stay on until `graceEndsAt`; `billingUrl` is where to pay.
   */
  'billing.past_due': { organization: string; plan: string; graceEndsAt: Date; billingUrl: string };
  /** Grace is over (or Stripe gave up): the plan's features are off until it is paid. */
  'billing.restricted': { organization: string; plan: string; billingUrl: string };
  /** A past-due or restricted subscription is paid again. */
  'billing.recovered': { organization: string; plan: string };
  /**
   * Stripe could not collect an organisation's monthly booking-fees invoice (`month`, yyyy-mm;
   * `amountMinor` in `currency`'s minor units); `payUrl` is the invoice's own page, to pay it.
   */
  'billing.fee_invoice_failed': {
    organization: string;
    month: string;
    amountMinor: bigint;
    currency: string;
    payUrl: string;
  };
  /** An organisation's webhook kept failing and was disabled, for its owners. */
  'webhook.disabled': { url: string; organization: string; days: number };
  /**
   * A reminder the person asked for (`text` in their words); `late` when it goes long after it was
   * due (the account was being deleted then, or the sending stopped), with when it was due on the
   * person's clock.
   */
  reminder: { text: string; late?: { dueAt: Date; timeZone: string } | null };
  /** A friendly word to a person who opted in and has been quiet a while (`name` when known). */
  'account.reengagement': { name: string | null };
  /**
   * A driver took the person's delivery (`replacing`: after another gave it back). Name, plate and
   * tracking page as Lalamove gives them; `destination`: the drop-off address the person gave.
   */
  'delivery.driver_assigned': {
    destination: string | null;
    driver: string | null;
    plate: string | null;
    trackingUrl: string | null;
    replacing: boolean;
  };
  'delivery.picked_up': { destination: string | null; trackingUrl: string | null };
  'delivery.completed': { destination: string | null };
  /** The delivery ended without arriving, as Lalamove reports it. */
  'delivery.ended': { destination: string | null; status: DeliveryEnd };
}

/** Lalamove's final statuses other than COMPLETED. */
export type DeliveryEnd = 'CANCELED' | 'REJECTED' | 'EXPIRED';

/** "Chan (AB 1234)", or the language's "a driver" when Lalamove gave no name. */
const driverOf = (p: { driver: string | null; plate: string | null }, nobody: string) =>
  p.driver ? `${p.driver}${p.plate ? ` (${p.plate})` : ''}` : nobody;

export type NoticeKind = keyof NoticeParams;

export interface RenderedNotice {
  language: NoticeLanguage;
  subject: string;
  body: string;
}

/** What a template may use to write times and lists in its language. */
interface Writer {
  via: NoticeVia;
  /** "Fri 4 Dec, 20:00" (in English) in the venue's time zone. */
  when(date: Date, timeZone: string): string;
  /** "20:00" in the venue's time zone. */
  clock(date: Date, timeZone: string): string;
  /** "a, b or c". */
  or(items: readonly string[]): string;
}

type Template<K extends NoticeKind> = (p: NoticeParams[K], w: Writer) => { subject: string; body: string };
type Templates = { [K in NoticeKind]: Template<K> };

/** The locale each language formats dates with (en-GB: "Fri 4 Dec, 20:00", as guests saw before). */
const LOCALE: Record<NoticeLanguage, string> = { en: 'en-GB', es: 'es-ES', pt: 'pt-BR', id: 'id-ID' };

const STATUS_WORDS: Record<NoticeLanguage, Record<BookingStatus, string>> = {
  en: {
    REQUESTED: 'requested',
    HELD: 'held',
    CONFIRMED: 'confirmed',
    DECLINED: 'declined',
    CANCELLED_BY_GUEST: 'cancelled_by_guest',
    CANCELLED_BY_VENUE: 'cancelled_by_venue',
    EXPIRED: 'expired',
    SEATED: 'seated',
    COMPLETED: 'completed',
    NO_SHOW: 'no_show',
  },
  es: {
    REQUESTED: 'solicitada',
    HELD: 'retenida',
    CONFIRMED: 'confirmada',
    DECLINED: 'rechazada',
    CANCELLED_BY_GUEST: 'cancelada por el cliente',
    CANCELLED_BY_VENUE: 'cancelada por el local',
    EXPIRED: 'caducada',
    SEATED: 'en mesa',
    COMPLETED: 'completada',
    NO_SHOW: 'no se presentó',
  },
  pt: {
    REQUESTED: 'pedida',
    HELD: 'em espera',
    CONFIRMED: 'confirmada',
    DECLINED: 'recusada',
    CANCELLED_BY_GUEST: 'cancelada pelo cliente',
    CANCELLED_BY_VENUE: 'cancelada pelo local',
    EXPIRED: 'expirada',
    SEATED: 'na mesa',
    COMPLETED: 'concluída',
    NO_SHOW: 'não compareceu',
  },
  id: {
    REQUESTED: 'diminta',
    HELD: 'ditahan',
    CONFIRMED: 'dikonfirmasi',
    DECLINED: 'ditolak',
    CANCELLED_BY_GUEST: 'dibatalkan tamu',
    CANCELLED_BY_VENUE: 'dibatalkan tempat',
    EXPIRED: 'kedaluwarsa',
    SEATED: 'sudah duduk',
    COMPLETED: 'selesai',
    NO_SHOW: 'tidak datang',
  },
};

/** The summary's lines, one per booking: "• 13:00 — 4 (requested)". */
function summaryLines(p: NoticeParams['venue.daily_summary'], w: Writer, language: NoticeLanguage): string {
  return p.bookings
    .map((b) => `• ${w.clock(b.startsAt, p.timeZone)} — ${b.partySize} (${STATUS_WORDS[language][b.status]})`)
    .join('\n');
}

const covers = (p: NoticeParams['venue.daily_summary']) =>
  p.bookings.reduce((sum, b) => sum + b.partySize, 0);
/** An amount in minor units of its currency, as the language writes money (its currency's digits). */
function money(p: { amountMinor: bigint; currency: string }, language: NoticeLanguage): string {
  const format = new Intl.NumberFormat(LOCALE[language], { style: 'currency', currency: p.currency });
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(Number(p.amountMinor) / 10 ** digits);
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

const en: Templates = {
  'booking.requested': (p, w) => ({
    subject: `Booking requested: ${p.venue}`,
    body: `I've asked ${p.venue} for a table for ${p.partySize} on ${w.when(p.startsAt, p.timeZone)}. I'll tell you as soon as they answer.`,
  }),
  'booking.confirmed': (p, w) => ({
    subject: `Booking confirmed: ${p.venue}, ${w.when(p.startsAt, p.timeZone)}`,
    body: `Your table for ${p.partySize} at ${p.venue} on ${w.when(p.startsAt, p.timeZone)} is confirmed.`,
  }),
  'booking.declined': (p, w) => ({
    subject: `${p.venue} can't take your booking`,
    body: `${p.venue} can't take your booking for ${w.when(p.startsAt, p.timeZone)}.${
      p.alternatives?.length
        ? ` They could do ${w.or(p.alternatives.map((d) => w.when(d, p.timeZone)))}. Shall I book one of those, or look elsewhere?`
        : ' Shall I look for another time or place?'
    }`,
  }),
  'booking.cancelled_by_venue': (p, w) => ({
    subject: `${p.venue} has cancelled your booking`,
    body: `${p.venue} has cancelled your booking for ${w.when(p.startsAt, p.timeZone)}. Sorry! Want me to find something else?`,
  }),
  'booking.changed': (p, w) => ({
    subject: `${p.venue} changed your booking`,
    body: `${p.venue} has changed your booking: it is now for ${p.partySize} on ${w.when(p.startsAt, p.timeZone)} (it was for ${p.was.partySize} on ${w.when(p.was.startsAt, p.timeZone)}). Tell me if that doesn't suit you.`,
  }),
  'booking.expired': (p, w) => ({
    subject: `Your booking at ${p.venue} has lapsed`,
    body: `${p.venue} didn't confirm your booking for ${w.when(p.startsAt, p.timeZone)} in time, so it has lapsed.`,
  }),
  'booking.escalated': (p, w) => ({
    subject: `${p.venue} is checking your booking`,
    body: `${p.venue}'s team is checking your request for ${p.partySize} on ${w.when(p.startsAt, p.timeZone)}; I'll tell you as soon as they answer.`,
  }),
  'booking.not_answered_yet': (p) => ({
    subject: `${p.venue} hasn't answered yet`,
    body: `${p.venue} hasn't answered yet; I'll tell you as soon as they do.`,
  }),
  'booking.reminder_24h': (p, w) => reminderEn(p, w, 'tomorrow'),
  'booking.reminder_2h': (p, w) => reminderEn(p, w, 'in two hours'),
  'booking.feedback': (p, w) => ({
    subject: `How was ${p.venue}?`,
    body:
      w.via === 'CHAT'
        ? `How was ${p.venue}? A word or a score from 1 to 5 helps me choose better for you next time.`
        : `How was ${p.venue}? A score from 1 to 5 and a word help me choose better for you next time: sign in to AGNT to leave them.`,
  }),
  'venue.answer': (p) => ({
    subject: `${p.venue} answered your question`,
    body: p.question
      ? `${p.venue} answered your question "${p.question}": ${p.answer}`
      : `${p.venue} answered: ${p.answer}`,
  }),
  'venue.review_decided': (p) => {
    const what = p.change === 'PUBLISH' ? `Publishing ${p.venue}` : `The change to ${p.venue}`;
    return p.approved
      ? {
          subject: `${what} was approved`,
          body: `${what} was approved${p.change === 'PUBLISH' ? ': it is on AGNT now.' : '.'}`,
        }
      : { subject: `${what} was not approved`, body: `${what} was not approved: ${p.reason}` };
  },
  'venue.daily_summary': (p, w) => {
    const head = `${p.venue} today: ${plural(p.bookings.length, 'booking', 'bookings')}, ${plural(covers(p), 'guest', 'guests')}.`;
    return {
      subject: p.bookings.length ? head : `${p.venue}: no bookings today`,
      body: p.bookings.length ? `${head}\n${summaryLines(p, w, 'en')}` : `${p.venue} has no bookings today.`,
    };
  },
  'billing.past_due': (p, w) => ({
    subject: `Payment failed: ${p.plan} for ${p.organization}`,
    body: `We couldn't collect the payment for ${p.organization}'s ${p.plan} subscription. Its features stay on until ${w.when(p.graceEndsAt, 'UTC')} UTC; after that they are switched off until it is paid. Update the payment method or pay here: ${p.billingUrl}`,
  }),
  'billing.restricted': (p) => ({
    subject: `${p.organization}'s ${p.plan} features are off`,
    body: `${p.organization}'s ${p.plan} subscription is still unpaid, so its features are now off. They come back as soon as it is paid: ${p.billingUrl}`,
  }),
  'billing.fee_invoice_failed': (p) => ({
    subject: `Payment failed: ${p.organization}'s booking fees for ${p.month}`,
    body: `We couldn't collect ${money(p, 'en')} for ${p.organization}'s booking fees of ${p.month}. Please pay the invoice here: ${p.payUrl}`,
  }),
  'billing.recovered': (p) => ({
    subject: `${p.organization}'s ${p.plan} payment went through`,
    body: `Thank you: ${p.organization}'s ${p.plan} subscription is paid and all its features are on.`,
  }),
  reminder: (p, w) => ({
    subject: `Reminder: ${p.text.slice(0, 60)}`,
    body: p.late
      ? `⏰ Reminder, late (it was for ${w.when(p.late.dueAt, p.late.timeZone)}): ${p.text}`
      : `⏰ Reminder: ${p.text}`,
  }),
  'account.reengagement': (p, w) => ({
    subject: 'Planning a night out?',
    body: `Hi${p.name ? ` ${p.name}` : ''}! It has been a while. If you are planning a meal or a night out, ${
      w.via === 'CHAT' ? 'tell me here' : 'message your AGNT agent'
    } and I will find and book a table for you. (You asked for these check-ins; ${
      w.via === 'CHAT'
        ? 'send /checkins off to stop them'
        : 'you can turn them off in your AGNT account settings'
    }.)`,
  }),
  'delivery.driver_assigned': (p) => ({
    subject: p.replacing ? 'Your delivery has a new driver' : 'A driver is taking your delivery',
    body: `🛵 ${driverOf(p, 'A driver')} ${p.replacing ? 'has taken over' : 'is taking'} your delivery${
      p.destination ? ` to ${p.destination}` : ''
    }${p.replacing ? ' (the previous driver gave it back)' : ''}.${p.trackingUrl ? ` Follow it live: ${p.trackingUrl}` : ''}`,
  }),
  'delivery.picked_up': (p) => ({
    subject: 'Your delivery is on its way',
    body: `📦 Your delivery${p.destination ? ` to ${p.destination}` : ''} has been picked up and is on its way.${
      p.trackingUrl ? ` Follow it live: ${p.trackingUrl}` : ''
    }`,
  }),
  'delivery.completed': (p) => ({
    subject: 'Your delivery has arrived',
    body: `✅ Your delivery${p.destination ? ` to ${p.destination}` : ''} has been delivered.`,
  }),
  'delivery.ended': (p, w) => {
    const to = p.destination ? ` to ${p.destination}` : '';
    const what = {
      CANCELED: `Your delivery${to} was cancelled.`,
      REJECTED: `Lalamove turned down your delivery${to}.`,
      EXPIRED: `No driver took your delivery${to} in time, so it expired.`,
    }[p.status];
    return {
      subject: 'Your delivery did not go ahead',
      body: `${what} ${w.via === 'CHAT' ? 'Tell me here' : 'Message your AGNT agent'} if you want to book it again.`,
    };
  },
  'webhook.disabled': (p) => ({
    subject: `Webhook disabled: ${p.url}`,
    body: `${p.organization}'s webhook to ${p.url} failed every delivery for ${p.days} days and has been disabled. Nothing more is sent to it: fix the receiver, then enable the webhook again from the dashboard, and what was still waiting goes.`,
  }),
};

function reminderEn(p: BookingNoticeParams, w: Writer, when: string) {
  const at = w.when(p.startsAt, p.timeZone);
  return {
    subject: `Reminder: ${p.venue}, ${at}`,
    body: `Reminder: your table for ${p.partySize} at ${p.venue} is ${when}, ${at}. ${
      w.via === 'CHAT'
        ? 'Reply here if plans change.'
        : 'If plans change, please cancel or let the venue know.'
    }`,
  };
}

const es: Templates = {
  'booking.requested': (p, w) => ({
    subject: `Reserva solicitada: ${p.venue}`,
    body: `He pedido a ${p.venue} una mesa para ${p.partySize} el ${w.when(p.startsAt, p.timeZone)}. Te aviso en cuanto respondan.`,
  }),
  'booking.confirmed': (p, w) => ({
    subject: `Reserva confirmada: ${p.venue}, ${w.when(p.startsAt, p.timeZone)}`,
    body: `Tu mesa para ${p.partySize} en ${p.venue} el ${w.when(p.startsAt, p.timeZone)} está confirmada.`,
  }),
  'booking.declined': (p, w) => ({
    subject: `${p.venue} no puede aceptar tu reserva`,
    body: `${p.venue} no puede aceptar tu reserva del ${w.when(p.startsAt, p.timeZone)}.${
      p.alternatives?.length
        ? ` Tienen sitio: ${w.or(p.alternatives.map((d) => w.when(d, p.timeZone)))}. ¿Reservo uno de esos horarios o busco en otro lugar?`
        : ' ¿Busco otra hora u otro lugar?'
    }`,
  }),
  'booking.cancelled_by_venue': (p, w) => ({
    subject: `${p.venue} ha cancelado tu reserva`,
    body: `${p.venue} ha cancelado tu reserva del ${w.when(p.startsAt, p.timeZone)}. ¡Lo sentimos! ¿Quieres que busque otra cosa?`,
  }),
  'booking.changed': (p, w) => ({
    subject: `${p.venue} ha cambiado tu reserva`,
    body: `${p.venue} ha cambiado tu reserva: ahora es para ${p.partySize} el ${w.when(p.startsAt, p.timeZone)} (era para ${p.was.partySize} el ${w.when(p.was.startsAt, p.timeZone)}). Dime si no te viene bien.`,
  }),
  'booking.expired': (p, w) => ({
    subject: `Tu reserva en ${p.venue} ha caducado`,
    body: `${p.venue} no confirmó a tiempo tu reserva del ${w.when(p.startsAt, p.timeZone)}, así que ha caducado.`,
  }),
  'booking.escalated': (p, w) => ({
    subject: `${p.venue} está revisando tu reserva`,
    body: `El equipo de ${p.venue} está revisando tu solicitud para ${p.partySize} el ${w.when(p.startsAt, p.timeZone)}; te aviso en cuanto respondan.`,
  }),
  'booking.not_answered_yet': (p) => ({
    subject: `${p.venue} aún no ha respondido`,
    body: `${p.venue} aún no ha respondido; te aviso en cuanto lo haga.`,
  }),
  'booking.reminder_24h': (p, w) => reminderEs(p, w, 'mañana'),
  'booking.reminder_2h': (p, w) => reminderEs(p, w, 'dentro de dos horas'),
  'booking.feedback': (p, w) => ({
    subject: `¿Qué tal en ${p.venue}?`,
    body:
      w.via === 'CHAT'
        ? `¿Qué tal en ${p.venue}? Una palabra o una puntuación del 1 al 5 me ayuda a elegir mejor para ti la próxima vez.`
        : `¿Qué tal en ${p.venue}? Una puntuación del 1 al 5 y un comentario me ayudan a elegir mejor para ti la próxima vez: inicia sesión en AGNT para dejarlos.`,
  }),
  'venue.answer': (p) => ({
    subject: `${p.venue} ha respondido a tu pregunta`,
    body: p.question
      ? `${p.venue} ha respondido a tu pregunta «${p.question}»: ${p.answer}`
      : `${p.venue} ha respondido: ${p.answer}`,
  }),
  'venue.review_decided': (p) => {
    const what = p.change === 'PUBLISH' ? `La publicación de ${p.venue}` : `El cambio en ${p.venue}`;
    return p.approved
      ? {
          subject: `${what} se ha aprobado`,
          body: `${what} se ha aprobado${p.change === 'PUBLISH' ? ': ya está en AGNT.' : '.'}`,
        }
      : { subject: `${what} no se ha aprobado`, body: `${what} no se ha aprobado: ${p.reason}` };
  },
  'venue.daily_summary': (p, w) => {
    const head = `${p.venue} hoy: ${plural(p.bookings.length, 'reserva', 'reservas')}, ${plural(covers(p), 'persona', 'personas')}.`;
    return {
      subject: p.bookings.length ? head : `${p.venue}: sin reservas hoy`,
      body: p.bookings.length ? `${head}\n${summaryLines(p, w, 'es')}` : `${p.venue} no tiene reservas hoy.`,
    };
  },
  'billing.past_due': (p, w) => ({
    subject: `Pago fallido: ${p.plan} de ${p.organization}`,
    body: `No hemos podido cobrar la suscripción ${p.plan} de ${p.organization}. Sus funciones siguen activas hasta el ${w.when(p.graceEndsAt, 'UTC')} UTC; después se desactivan hasta que se pague. Actualiza el método de pago o paga aquí: ${p.billingUrl}`,
  }),
  'billing.restricted': (p) => ({
    subject: `Las funciones de ${p.plan} de ${p.organization} están desactivadas`,
    body: `La suscripción ${p.plan} de ${p.organization} sigue sin pagarse, así que sus funciones se han desactivado. Vuelven en cuanto se pague: ${p.billingUrl}`,
  }),
  'billing.fee_invoice_failed': (p) => ({
    subject: `Pago fallido: comisiones de reservas de ${p.organization} de ${p.month}`,
    body: `No hemos podido cobrar ${money(p, 'es')} de las comisiones de reservas de ${p.organization} de ${p.month}. Paga la factura aquí: ${p.payUrl}`,
  }),
  'billing.recovered': (p) => ({
    subject: `El pago de ${p.plan} de ${p.organization} se ha completado`,
    body: `Gracias: la suscripción ${p.plan} de ${p.organization} está pagada y todas sus funciones están activas.`,
  }),
  reminder: (p, w) => ({
    subject: `Recordatorio: ${p.text.slice(0, 60)}`,
    body: p.late
      ? `⏰ Recordatorio, con retraso (era para el ${w.when(p.late.dueAt, p.late.timeZone)}): ${p.text}`
      : `⏰ Recordatorio: ${p.text}`,
  }),
  'account.reengagement': (p, w) => ({
    subject: '¿Planeando una salida?',
    body: `¡Hola${p.name ? ` ${p.name}` : ''}! Hace tiempo que no hablamos. Si piensas salir a comer o de noche, ${
      w.via === 'CHAT' ? 'dímelo aquí' : 'escribe a tu agente de AGNT'
    } y te busco y reservo mesa. (Pediste estos mensajes; ${
      w.via === 'CHAT'
        ? 'envía /checkins off para dejar de recibirlos'
        : 'puedes desactivarlos en los ajustes de tu cuenta de AGNT'
    }.)`,
  }),
  'delivery.driver_assigned': (p) => ({
    subject: p.replacing ? 'Tu envío tiene un nuevo repartidor' : 'Un repartidor se encarga de tu envío',
    body: `🛵 ${driverOf(p, 'Un repartidor')} ${p.replacing ? 'se ha hecho cargo de' : 'se encarga de'} tu envío${
      p.destination ? ` a ${p.destination}` : ''
    }${p.replacing ? ' (el repartidor anterior lo devolvió)' : ''}.${p.trackingUrl ? ` Síguelo en directo: ${p.trackingUrl}` : ''}`,
  }),
  'delivery.picked_up': (p) => ({
    subject: 'Tu envío está en camino',
    body: `📦 Han recogido tu envío${p.destination ? ` a ${p.destination}` : ''} y está en camino.${
      p.trackingUrl ? ` Síguelo en directo: ${p.trackingUrl}` : ''
    }`,
  }),
  'delivery.completed': (p) => ({
    subject: 'Tu envío ha llegado',
    body: `✅ Tu envío${p.destination ? ` a ${p.destination}` : ''} se ha entregado.`,
  }),
  'delivery.ended': (p, w) => {
    const to = p.destination ? ` a ${p.destination}` : '';
    const what = {
      CANCELED: `Tu envío${to} se ha cancelado.`,
      REJECTED: `Lalamove ha rechazado tu envío${to}.`,
      EXPIRED: `Ningún repartidor aceptó tu envío${to} a tiempo y ha caducado.`,
    }[p.status];
    return {
      subject: 'Tu envío no se ha realizado',
      body: `${what} ${w.via === 'CHAT' ? 'Dímelo aquí' : 'Escribe a tu agente de AGNT'} si quieres volver a pedirlo.`,
    };
  },
  'webhook.disabled': (p) => ({
    subject: `Webhook desactivado: ${p.url}`,
    body: `El webhook de ${p.organization} a ${p.url} ha fallado en todas las entregas durante ${p.days} días y se ha desactivado. No se le envía nada más: arregla el receptor y vuelve a activar el webhook desde el panel; lo que quedaba pendiente se enviará entonces.`,
  }),
};

function reminderEs(p: BookingNoticeParams, w: Writer, when: string) {
  const at = w.when(p.startsAt, p.timeZone);
  return {
    subject: `Recordatorio: ${p.venue}, ${at}`,
    body: `Recordatorio: tu mesa para ${p.partySize} en ${p.venue} es ${when}, ${at}. ${
      w.via === 'CHAT'
        ? 'Responde aquí si cambian tus planes.'
        : 'Si cambian tus planes, cancela la reserva o avisa al local.'
    }`,
  };
}

const pt: Templates = {
  'booking.requested': (p, w) => ({
    subject: `Reserva pedida: ${p.venue}`,
    body: `Pedi uma mesa para ${p.partySize} em ${p.venue}, ${w.when(p.startsAt, p.timeZone)}. Aviso você assim que responderem.`,
  }),
  'booking.confirmed': (p, w) => ({
    subject: `Reserva confirmada: ${p.venue}, ${w.when(p.startsAt, p.timeZone)}`,
    body: `Sua mesa para ${p.partySize} em ${p.venue}, ${w.when(p.startsAt, p.timeZone)}, está confirmada.`,
  }),
  'booking.declined': (p, w) => ({
    subject: `${p.venue} não pode aceitar sua reserva`,
    body: `${p.venue} não pode aceitar sua reserva para ${w.when(p.startsAt, p.timeZone)}.${
      p.alternatives?.length
        ? ` Têm lugar em: ${w.or(p.alternatives.map((d) => w.when(d, p.timeZone)))}. Reservo um desses horários ou procuro outro lugar?`
        : ' Quer que eu procure outro horário ou lugar?'
    }`,
  }),
  'booking.cancelled_by_venue': (p, w) => ({
    subject: `${p.venue} cancelou sua reserva`,
    body: `${p.venue} cancelou sua reserva para ${w.when(p.startsAt, p.timeZone)}. Sinto muito! Quer que eu encontre outra opção?`,
  }),
  'booking.changed': (p, w) => ({
    subject: `${p.venue} alterou sua reserva`,
    body: `${p.venue} alterou sua reserva: agora é para ${p.partySize} em ${w.when(p.startsAt, p.timeZone)} (era para ${p.was.partySize} em ${w.when(p.was.startsAt, p.timeZone)}). Me avise se não for bom para você.`,
  }),
  'booking.expired': (p, w) => ({
    subject: `Sua reserva em ${p.venue} expirou`,
    body: `${p.venue} não confirmou a tempo sua reserva para ${w.when(p.startsAt, p.timeZone)}, então ela expirou.`,
  }),
  'booking.escalated': (p, w) => ({
    subject: `${p.venue} está analisando sua reserva`,
    body: `A equipe de ${p.venue} está analisando seu pedido para ${p.partySize}, ${w.when(p.startsAt, p.timeZone)}; aviso você assim que responderem.`,
  }),
  'booking.not_answered_yet': (p) => ({
    subject: `${p.venue} ainda não respondeu`,
    body: `${p.venue} ainda não respondeu; aviso você assim que responder.`,
  }),
  'booking.reminder_24h': (p, w) => reminderPt(p, w, 'amanhã'),
  'booking.reminder_2h': (p, w) => reminderPt(p, w, 'daqui a duas horas'),
  'booking.feedback': (p, w) => ({
    subject: `Como foi em ${p.venue}?`,
    body:
      w.via === 'CHAT'
        ? `Como foi em ${p.venue}? Uma palavra ou uma nota de 1 a 5 me ajuda a escolher melhor para você da próxima vez.`
        : `Como foi em ${p.venue}? Uma nota de 1 a 5 e um comentário me ajudam a escolher melhor para você da próxima vez: entre no AGNT para deixá-los.`,
  }),
  'venue.answer': (p) => ({
    subject: `${p.venue} respondeu à sua pergunta`,
    body: p.question
      ? `${p.venue} respondeu à sua pergunta "${p.question}": ${p.answer}`
      : `${p.venue} respondeu: ${p.answer}`,
  }),
  'venue.review_decided': (p) => {
    const what = p.change === 'PUBLISH' ? `A publicação de ${p.venue}` : `A alteração em ${p.venue}`;
    return p.approved
      ? {
          subject: `${what} foi aprovada`,
          body: `${what} foi aprovada${p.change === 'PUBLISH' ? ': já está no AGNT.' : '.'}`,
        }
      : { subject: `${what} não foi aprovada`, body: `${what} não foi aprovada: ${p.reason}` };
  },
  'venue.daily_summary': (p, w) => {
    const head = `${p.venue} hoje: ${plural(p.bookings.length, 'reserva', 'reservas')}, ${plural(covers(p), 'pessoa', 'pessoas')}.`;
    return {
      subject: p.bookings.length ? head : `${p.venue}: nenhuma reserva hoje`,
      body: p.bookings.length ? `${head}\n${summaryLines(p, w, 'pt')}` : `${p.venue} não tem reservas hoje.`,
    };
  },
  'billing.past_due': (p, w) => ({
    subject: `Pagamento recusado: ${p.plan} de ${p.organization}`,
    body: `Não conseguimos cobrar a assinatura ${p.plan} de ${p.organization}. Os recursos continuam ativos até ${w.when(p.graceEndsAt, 'UTC')} UTC; depois disso ficam desativados até o pagamento. Atualize a forma de pagamento ou pague aqui: ${p.billingUrl}`,
  }),
  'billing.restricted': (p) => ({
    subject: `Os recursos do ${p.plan} de ${p.organization} foram desativados`,
    body: `A assinatura ${p.plan} de ${p.organization} continua sem pagamento, por isso os recursos foram desativados. Eles voltam assim que for paga: ${p.billingUrl}`,
  }),
  'billing.fee_invoice_failed': (p) => ({
    subject: `Pagamento recusado: taxas de reservas de ${p.organization} de ${p.month}`,
    body: `Não conseguimos cobrar ${money(p, 'pt')} das taxas de reservas de ${p.organization} de ${p.month}. Pague a fatura aqui: ${p.payUrl}`,
  }),
  'billing.recovered': (p) => ({
    subject: `O pagamento do ${p.plan} de ${p.organization} foi concluído`,
    body: `Obrigado: a assinatura ${p.plan} de ${p.organization} está paga e todos os recursos estão ativos.`,
  }),
  reminder: (p, w) => ({
    subject: `Lembrete: ${p.text.slice(0, 60)}`,
    body: p.late
      ? `⏰ Lembrete, atrasado (era para ${w.when(p.late.dueAt, p.late.timeZone)}): ${p.text}`
      : `⏰ Lembrete: ${p.text}`,
  }),
  'account.reengagement': (p, w) => ({
    subject: 'Planejando sair?',
    body: `Olá${p.name ? ` ${p.name}` : ''}! Faz tempo que não conversamos. Se está pensando em sair para comer, ${
      w.via === 'CHAT' ? 'me diga aqui' : 'escreva para o seu agente AGNT'
    } e eu encontro e reservo uma mesa. (Você pediu estas mensagens; ${
      w.via === 'CHAT'
        ? 'envie /checkins off para pará-las'
        : 'pode desligá-las nas configurações da sua conta AGNT'
    }.)`,
  }),
  'delivery.driver_assigned': (p) => ({
    subject: p.replacing ? 'Sua entrega tem um novo entregador' : 'Um entregador vai fazer a sua entrega',
    body: `🛵 ${driverOf(p, 'Um entregador')} ${p.replacing ? 'assumiu' : 'vai fazer'} a sua entrega${
      p.destination ? ` para ${p.destination}` : ''
    }${p.replacing ? ' (o entregador anterior a devolveu)' : ''}.${p.trackingUrl ? ` Acompanhe ao vivo: ${p.trackingUrl}` : ''}`,
  }),
  'delivery.picked_up': (p) => ({
    subject: 'Sua entrega está a caminho',
    body: `📦 Sua entrega${p.destination ? ` para ${p.destination}` : ''} foi retirada e está a caminho.${
      p.trackingUrl ? ` Acompanhe ao vivo: ${p.trackingUrl}` : ''
    }`,
  }),
  'delivery.completed': (p) => ({
    subject: 'Sua entrega chegou',
    body: `✅ Sua entrega${p.destination ? ` para ${p.destination}` : ''} foi entregue.`,
  }),
  'delivery.ended': (p, w) => {
    const to = p.destination ? ` para ${p.destination}` : '';
    const what = {
      CANCELED: `Sua entrega${to} foi cancelada.`,
      REJECTED: `A Lalamove recusou a sua entrega${to}.`,
      EXPIRED: `Nenhum entregador aceitou a sua entrega${to} a tempo, e ela expirou.`,
    }[p.status];
    return {
      subject: 'Sua entrega não foi feita',
      body: `${what} ${w.via === 'CHAT' ? 'Me diga aqui' : 'Escreva para o seu agente AGNT'} se quiser pedi-la de novo.`,
    };
  },
  'webhook.disabled': (p) => ({
    subject: `Webhook desativado: ${p.url}`,
    body: `O webhook de ${p.organization} para ${p.url} falhou em todas as entregas por ${p.days} dias e foi desativado. Nada mais é enviado a ele: corrija o receptor e ative o webhook de novo pelo painel; o que ainda estava pendente será enviado então.`,
  }),
};

function reminderPt(p: BookingNoticeParams, w: Writer, when: string) {
  const at = w.when(p.startsAt, p.timeZone);
  return {
    subject: `Lembrete: ${p.venue}, ${at}`,
    body: `Lembrete: sua mesa para ${p.partySize} em ${p.venue} é ${when}, ${at}. ${
      w.via === 'CHAT'
        ? 'Responda aqui se os planos mudarem.'
        : 'Se os planos mudarem, cancele a reserva ou avise o local.'
    }`,
  };
}

const id: Templates = {
  'booking.requested': (p, w) => ({
    subject: `Permintaan reservasi: ${p.venue}`,
    body: `Saya sudah meminta meja untuk ${p.partySize} orang di ${p.venue} pada ${w.when(p.startsAt, p.timeZone)}. Saya kabari begitu mereka menjawab.`,
  }),
  'booking.confirmed': (p, w) => ({
    subject: `Reservasi dikonfirmasi: ${p.venue}, ${w.when(p.startsAt, p.timeZone)}`,
    body: `Meja Anda untuk ${p.partySize} orang di ${p.venue} pada ${w.when(p.startsAt, p.timeZone)} sudah dikonfirmasi.`,
  }),
  'booking.declined': (p, w) => ({
    subject: `${p.venue} tidak dapat menerima reservasi Anda`,
    body: `${p.venue} tidak dapat menerima reservasi Anda untuk ${w.when(p.startsAt, p.timeZone)}.${
      p.alternatives?.length
        ? ` Mereka bisa pada ${w.or(p.alternatives.map((d) => w.when(d, p.timeZone)))}. Mau saya pesan salah satunya, atau cari tempat lain?`
        : ' Mau saya carikan waktu atau tempat lain?'
    }`,
  }),
  'booking.cancelled_by_venue': (p, w) => ({
    subject: `${p.venue} membatalkan reservasi Anda`,
    body: `${p.venue} membatalkan reservasi Anda untuk ${w.when(p.startsAt, p.timeZone)}. Mohon maaf! Mau saya carikan yang lain?`,
  }),
  'booking.changed': (p, w) => ({
    subject: `${p.venue} mengubah reservasi Anda`,
    body: `${p.venue} telah mengubah reservasi Anda: sekarang untuk ${p.partySize} orang pada ${w.when(p.startsAt, p.timeZone)} (sebelumnya ${p.was.partySize} orang pada ${w.when(p.was.startsAt, p.timeZone)}). Beri tahu saya jika tidak cocok.`,
  }),
  'booking.expired': (p, w) => ({
    subject: `Reservasi Anda di ${p.venue} kedaluwarsa`,
    body: `${p.venue} tidak mengonfirmasi reservasi Anda untuk ${w.when(p.startsAt, p.timeZone)} tepat waktu, jadi reservasi itu kedaluwarsa.`,
  }),
  'booking.escalated': (p, w) => ({
    subject: `${p.venue} sedang memeriksa reservasi Anda`,
    body: `Tim ${p.venue} sedang memeriksa permintaan Anda untuk ${p.partySize} orang pada ${w.when(p.startsAt, p.timeZone)}; saya kabari begitu mereka menjawab.`,
  }),
  'booking.not_answered_yet': (p) => ({
    subject: `${p.venue} belum menjawab`,
    body: `${p.venue} belum menjawab; saya kabari begitu mereka menjawab.`,
  }),
  'booking.reminder_24h': (p, w) => reminderId(p, w, 'besok'),
  'booking.reminder_2h': (p, w) => reminderId(p, w, 'dua jam lagi'),
  'booking.feedback': (p, w) => ({
    subject: `Bagaimana pengalaman Anda di ${p.venue}?`,
    body:
      w.via === 'CHAT'
        ? `Bagaimana pengalaman Anda di ${p.venue}? Satu kata atau nilai 1 sampai 5 membantu saya memilih lebih baik untuk Anda lain kali.`
        : `Bagaimana pengalaman Anda di ${p.venue}? Nilai 1 sampai 5 dan sedikit komentar membantu saya memilih lebih baik untuk Anda lain kali: masuk ke AGNT untuk memberikannya.`,
  }),
  'venue.answer': (p) => ({
    subject: `${p.venue} menjawab pertanyaan Anda`,
    body: p.question
      ? `${p.venue} menjawab pertanyaan Anda "${p.question}": ${p.answer}`
      : `${p.venue} menjawab: ${p.answer}`,
  }),
  'venue.review_decided': (p) => {
    const what = p.change === 'PUBLISH' ? `Publikasi ${p.venue}` : `Perubahan pada ${p.venue}`;
    return p.approved
      ? {
          subject: `${what} disetujui`,
          body: `${what} disetujui${p.change === 'PUBLISH' ? ': sekarang sudah ada di AGNT.' : '.'}`,
        }
      : { subject: `${what} tidak disetujui`, body: `${what} tidak disetujui: ${p.reason}` };
  },
  'venue.daily_summary': (p, w) => {
    // Indonesian nouns do not change in the plural.
    const head = `${p.venue} hari ini: ${p.bookings.length} pemesanan, ${covers(p)} tamu.`;
    return {
      subject: p.bookings.length ? head : `${p.venue}: tidak ada pemesanan hari ini`,
      body: p.bookings.length
        ? `${head}\n${summaryLines(p, w, 'id')}`
        : `${p.venue} tidak ada pemesanan hari ini.`,
    };
  },
  'billing.past_due': (p, w) => ({
    subject: `Pembayaran gagal: ${p.plan} untuk ${p.organization}`,
    body: `Kami tidak dapat menagih pembayaran langganan ${p.plan} untuk ${p.organization}. Fiturnya tetap aktif sampai ${w.when(p.graceEndsAt, 'UTC')} UTC; setelah itu dinonaktifkan sampai dibayar. Perbarui metode pembayaran atau bayar di sini: ${p.billingUrl}`,
  }),
  'billing.restricted': (p) => ({
    subject: `Fitur ${p.plan} untuk ${p.organization} dinonaktifkan`,
    body: `Langganan ${p.plan} untuk ${p.organization} masih belum dibayar, jadi fiturnya sekarang dinonaktifkan. Fitur aktif kembali begitu dibayar: ${p.billingUrl}`,
  }),
  'billing.fee_invoice_failed': (p) => ({
    subject: `Pembayaran gagal: biaya pemesanan ${p.organization} untuk ${p.month}`,
    body: `Kami tidak dapat menagih ${money(p, 'id')} untuk biaya pemesanan ${p.organization} bulan ${p.month}. Silakan bayar tagihannya di sini: ${p.payUrl}`,
  }),
  'billing.recovered': (p) => ({
    subject: `Pembayaran ${p.plan} untuk ${p.organization} berhasil`,
    body: `Terima kasih: langganan ${p.plan} untuk ${p.organization} sudah dibayar dan semua fiturnya aktif.`,
  }),
  reminder: (p, w) => ({
    subject: `Pengingat: ${p.text.slice(0, 60)}`,
    body: p.late
      ? `⏰ Pengingat, terlambat (seharusnya ${w.when(p.late.dueAt, p.late.timeZone)}): ${p.text}`
      : `⏰ Pengingat: ${p.text}`,
  }),
  'account.reengagement': (p, w) => ({
    subject: 'Mau keluar makan?',
    body: `Halo${p.name ? ` ${p.name}` : ''}! Sudah lama tidak mengobrol. Kalau berencana makan di luar, ${
      w.via === 'CHAT' ? 'beri tahu saya di sini' : 'kirim pesan ke agen AGNT Anda'
    } dan saya carikan serta pesankan meja. (Anda meminta pesan ini; ${
      w.via === 'CHAT'
        ? 'kirim /checkins off untuk menghentikannya'
        : 'matikan kapan saja di pengaturan akun AGNT Anda'
    }.)`,
  }),
  'delivery.driver_assigned': (p) => ({
    subject: p.replacing ? 'Kiriman Anda punya pengemudi baru' : 'Pengemudi akan mengantar kiriman Anda',
    body: `🛵 ${driverOf(p, 'Seorang pengemudi')} ${p.replacing ? 'mengambil alih' : 'akan mengantar'} kiriman Anda${
      p.destination ? ` ke ${p.destination}` : ''
    }${p.replacing ? ' (pengemudi sebelumnya mengembalikannya)' : ''}.${p.trackingUrl ? ` Pantau langsung: ${p.trackingUrl}` : ''}`,
  }),
  'delivery.picked_up': (p) => ({
    subject: 'Kiriman Anda dalam perjalanan',
    body: `📦 Kiriman Anda${p.destination ? ` ke ${p.destination}` : ''} sudah diambil pengemudi dan sedang dalam perjalanan.${
      p.trackingUrl ? ` Pantau langsung: ${p.trackingUrl}` : ''
    }`,
  }),
  'delivery.completed': (p) => ({
    subject: 'Kiriman Anda sudah tiba',
    body: `✅ Kiriman Anda${p.destination ? ` ke ${p.destination}` : ''} sudah diantar.`,
  }),
  'delivery.ended': (p, w) => {
    const to = p.destination ? ` ke ${p.destination}` : '';
    const what = {
      CANCELED: `Kiriman Anda${to} dibatalkan.`,
      REJECTED: `Lalamove menolak kiriman Anda${to}.`,
      EXPIRED: `Tidak ada pengemudi yang mengambil kiriman Anda${to} tepat waktu, jadi kiriman kedaluwarsa.`,
    }[p.status];
    return {
      subject: 'Kiriman Anda tidak jadi',
      body: `${what} ${w.via === 'CHAT' ? 'Beri tahu saya di sini' : 'Kirim pesan ke agen AGNT Anda'} jika ingin memesannya lagi.`,
    };
  },
  'webhook.disabled': (p) => ({
    subject: `Webhook dinonaktifkan: ${p.url}`,
    body: `Webhook ${p.organization} ke ${p.url} gagal di setiap pengiriman selama ${p.days} hari dan telah dinonaktifkan. Tidak ada lagi yang dikirim ke sana: perbaiki penerima, lalu aktifkan kembali webhook dari dasbor, dan yang masih menunggu akan dikirim.`,
  }),
};

function reminderId(p: BookingNoticeParams, w: Writer, when: string) {
  const at = w.when(p.startsAt, p.timeZone);
  return {
    subject: `Pengingat: ${p.venue}, ${at}`,
    body: `Pengingat: meja Anda untuk ${p.partySize} orang di ${p.venue} ${when}, ${at}. ${
      w.via === 'CHAT'
        ? 'Balas di sini jika rencana berubah.'
        : 'Jika rencana berubah, batalkan reservasi atau kabari tempatnya.'
    }`,
  };
}

const TEMPLATES: Record<NoticeLanguage, Templates> = { en, es, pt, id };

/** The kinds there are, for tests and for anyone listing them. */
export const NOTICE_KINDS = Object.keys(en) as NoticeKind[];

/** The language we write to a person in: the primary subtag of their BCP 47 tag, if we have it. */
export function noticeLanguage(tag: string | null | undefined): NoticeLanguage {
  const primary = tag?.trim().toLowerCase().split(/[-_]/)[0];
  // "in" is the withdrawn ISO 639 code for Indonesian, still sent by older Android phones.
  const normalised = primary === 'in' ? 'id' : primary;
  return (NOTICE_LANGUAGES as readonly string[]).includes(normalised ?? '')
    ? (normalised as NoticeLanguage)
    : 'en';
}

/** A booking's time as notices write it ("Fri 4 Dec, 20:00" in English) in the venue's zone. */
export function noticeWhen(date: Date, timeZone: string, language: NoticeLanguage = 'en'): string {
  return new Intl.DateTimeFormat(LOCALE[language], {
    timeZone,
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  }).format(date);
}

function writer(language: NoticeLanguage, via: NoticeVia): Writer {
  const locale = LOCALE[language];
  return {
    via,
    when: (date, timeZone) => noticeWhen(date, timeZone, language),
    clock: (date, timeZone) =>
      new Intl.DateTimeFormat(locale, { timeZone, hour: '2-digit', minute: '2-digit', hour12: false }).format(
        date,
      ),
    or: (items) => new Intl.ListFormat(locale, { type: 'disjunction' }).format(items),
  };
}

/** The notice `kind` written for a person whose language tag is `tag`, to travel by `via`. */
export function renderNotice<K extends NoticeKind>(
  kind: K,
  params: NoticeParams[K],
  options: { language: string | null | undefined; via: NoticeVia },
): RenderedNotice {
  const language = noticeLanguage(options.language);
  const template = TEMPLATES[language][kind] as Template<K>;
  return { language, ...template(params, writer(language, options.via)) };
}
